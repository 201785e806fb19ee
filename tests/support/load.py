"""Concurrent clients that keep predicting while a test changes the server under them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import requests

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]


@dataclass
class Answer:
    status: int
    version: str | None


@dataclass
class Load:
    url: str
    clients: int = 4
    answers: list[list[Answer]] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._started = threading.Barrier(self.clients + 1)
        self.answers = [[] for _ in range(self.clients)]
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        self._started.wait()
        return self

    def _client(self, index: int) -> None:
        answers = self.answers[index]
        with requests.Session() as session:
            first = True
            while not self._stop.is_set():
                try:
                    response = session.post(
                        f"{self.url}/v1/models/diabetes:predict",
                        json={"instances": [ROW]},
                        timeout=30,
                    )
                    answer = Answer(response.status_code, response.headers.get("X-Model-Version"))
                except requests.RequestException:
                    answer = Answer(0, None)
                with self._progress:
                    answers.append(answer)
                    self._progress.notify_all()
                if first:  # every client has answers before the test goes on
                    first = False
                    self._started.wait()

    def wait_for_more(self, count: int) -> None:
        """Block until every client got ``count`` more answers than it has now."""
        with self._progress:
            targets = [len(a) + count for a in self.answers]
            reached = self._progress.wait_for(
                lambda: all(len(a) >= t for a, t in zip(self.answers, targets, strict=True)), 60
            )
        assert reached, "clients stopped answering"

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    @property
    def all(self) -> list[Answer]:
        return [a for answers in self.answers for a in answers]
