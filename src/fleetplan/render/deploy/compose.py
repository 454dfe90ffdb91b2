"""A Docker Compose file running one replica of the target on one machine."""

from __future__ import annotations

from typing import Any

from fleetplan.render.deploy.engines import PORT
from fleetplan.render.deploy.target import Target


def _gpu_access(t: Target) -> dict[str, Any]:
    if t.vendor == "amd":
        # ROCm containers reach the GPUs through the kernel driver's device nodes, not a
        # container runtime hook (https://rocm.docs.amd.com/projects/install-on-linux/en/
        # latest/how-to/docker.html); HIP_VISIBLE_DEVICES picks the replica's GPUs.
        return {
            "devices": ["/dev/kfd", "/dev/dri"],
            "group_add": ["video"],
            "security_opt": ["seccomp=unconfined"],
            "environment": [
                "HF_TOKEN=${HF_TOKEN:-}",
                "HIP_VISIBLE_DEVICES=" + ",".join(str(i) for i in range(t.candidate.tp)),
            ],
        }
    # NVIDIA Container Toolkit device reservation
    # (https://docs.docker.com/compose/how-tos/gpu-support/)
    return {
        "environment": ["HF_TOKEN=${HF_TOKEN:-}"],
        "deploy": {
            "resources": {
                "reservations": {
                    "devices": [
                        {"driver": "nvidia", "count": t.candidate.tp, "capabilities": ["gpu"]}
                    ]
                }
            }
        },
    }


def compose(t: Target) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": t.image,
        "entrypoint": list(t.engine.command),
        "command": t.args,
        "ports": [f"{PORT}:{PORT}"],
        "ipc": "host",
        "volumes": [f"model-cache:{t.engine.cache_dir}"],
        **_gpu_access(t),
        "healthcheck": {
            "test": ["CMD", "curl", "-f", f"http://localhost:{PORT}{t.engine.health_path}"],
            "interval": "30s",
            "timeout": "10s",
            "retries": 3,
            "start_period": f"{t.load_time_s}s",
        },
    }
    return {"services": {t.name: service}, "volumes": {"model-cache": {}}}
