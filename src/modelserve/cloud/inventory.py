"""An Ansible inventory of launched nodes, for deploy/ansible (groups ``prod`` and ``dev``)."""

from __future__ import annotations

import re
from pathlib import Path

from modelserve.cloud.openstack import Node

GROUP_OF_ROLE = {"all-in-one": "prod", "web": "prod", "worker": "prod", "dev": "dev"}
HEADER = re.compile(r"^\[([^\]]+)\]\s*$")


def add_to_inventory(path: Path, nodes: list[Node], user: str) -> None:
    """Add (or update) each node's line in its group; other lines are kept as they are."""
    path = Path(path)
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    current = None
    for line in path.read_text().splitlines() if path.exists() else []:
        header = HEADER.match(line)
        if header:
            current = header.group(1)
            order.append(current)
            groups.setdefault(current, [])
        elif current is not None and line.strip():
            groups[current].append(line)
    names = {node.name for node in nodes}
    for group in groups:
        groups[group] = [line for line in groups[group] if line.split()[0] not in names]
    for node in nodes:
        group = GROUP_OF_ROLE[node.role]
        if group not in groups:
            groups[group] = []
            order.append(group)
        groups[group].append(f"{node.name} ansible_host={node.address} ansible_user={user}")
    path.write_text("\n\n".join(f"[{g}]\n" + "\n".join(groups[g]) for g in order) + "\n")
