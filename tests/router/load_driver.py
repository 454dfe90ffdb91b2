"""Load client run as its own process (so it does not share the gateway's GIL).

usage: python load_driver.py URL KEY N CONCURRENCY -> prints {"ok": n, "errors": [...]} as JSON
"""

from __future__ import annotations

import asyncio
import json
import sys

import openai

MSG = [{"role": "user", "content": "hello"}]
EXPECTED = "t0 t1 t2 t3 t4 "


async def drive(url: str, key: str, n: int, concurrency: int) -> dict[str, object]:
    c = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)
    sem = asyncio.Semaphore(concurrency)
    ok, errors, wrong = 0, [], []

    async def one() -> None:
        nonlocal ok
        async with sem:
            try:
                stream = await c.chat.completions.create(model="m", messages=MSG, stream=True)
                text = "".join([ch.choices[0].delta.content or "" async for ch in stream])
            except openai.APIError as exc:  # a clear error is an answer too; count it
                errors.append(str(exc))
                return
            if text == EXPECTED:
                ok += 1
            else:
                wrong.append(text)

    await asyncio.gather(*(one() for _ in range(n)))
    await c.close()
    return {"ok": ok, "errors": errors, "wrong": wrong}


if __name__ == "__main__":
    url, key, n, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(drive(url, key, n, conc))))
