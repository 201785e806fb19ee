"""Reading a server's /metrics the way Prometheus would."""

import requests
from prometheus_client.parser import text_string_to_metric_families


def samples(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample at ``{url}/metrics``, keyed by name and sorted labels."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
