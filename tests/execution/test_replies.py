"""The reply listener against the machine's RabbitMQ, through a proxy the test cuts."""

from __future__ import annotations

import time
import uuid

import kombu
import pytest

from modelserve.errors import BackendTimeout
from modelserve.execution.replies import ReplyListener
from modelserve.settings import Settings
from modelserve.worker.app import create_celery

BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def listener(proxy):
    app = create_celery(
        Settings(
            broker_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
            queue=f"replies-{uuid.uuid4().hex[:8]}",
        )
    )
    listener = ReplyListener(app).start()
    assert listener.connected.wait(10)
    yield listener
    listener.stop()


def answer(listener: ReplyListener, task_id: str, result) -> None:
    """What a worker sends back, published straight to the broker (not through the proxy),
    to the queue the sender declared before its task."""
    with kombu.Connection(BROKER) as connection:
        producer = kombu.Producer(connection.channel())
        listener.declare(producer, {})
        producer.publish(
            {"status": "SUCCESS", "result": result, "task_id": task_id},
            routing_key=listener.queue.name,
            correlation_id=task_id,
            serializer="json",
        )


def test_answers_reach_the_request_waiting_for_them(listener):
    first, second = listener.expect("first"), listener.expect("second")
    answer(listener, "second", 2)
    answer(listener, "first", 1)
    answer(listener, "nobody-waits", 3)  # dropped
    assert first.result(5)["result"] == 1 and second.result(5)["result"] == 2


def cut_and_restore(proxy) -> None:
    proxy.stop()
    proxy.start()


def delete_the_reply_queue(listener: ReplyListener) -> None:
    with kombu.Connection(BROKER) as connection:
        connection.channel().queue_delete(listener.queue.name)


@pytest.mark.parametrize("fault", ["cut and restored", "reply queue deleted"])
def test_after_a_fault_lost_answers_fail_at_once_and_the_listener_heals(listener, proxy, fault):
    lost = listener.expect("sent-before")
    listener.sent("sent-before")
    not_yet_sent = listener.expect("sent-after")
    started = time.monotonic()
    if fault == "cut and restored":
        proxy.stop()
        proxy.start()
    else:
        with kombu.Connection(BROKER) as connection:
            connection.channel().queue_delete(listener.queue.name)
    # Its reply queue went away with the consumer: the answer cannot come.
    with pytest.raises(BackendTimeout, match="failed before the answer came"):
        lost.result(5)
    assert time.monotonic() - started < 1
    # A task sent after the failure declares the queue anew: its answer waits there.
    listener.sent("sent-after")
    answer(listener, "sent-after", "kept")
    assert listener.connected.wait(5)
    assert not_yet_sent.result(5)["result"] == "kept"
    after = listener.expect("after")
    answer(listener, "after", "back")
    assert after.result(5)["result"] == "back"


def test_a_malformed_answer_is_dropped_without_harm(listener):
    waiting = listener.expect("task")
    listener.sent("task")
    with kombu.Connection(BROKER) as connection:
        producer = kombu.Producer(connection.channel())
        producer.publish([1, 2], routing_key=listener.queue.name, serializer="json")
        producer.publish(b"\x00", routing_key=listener.queue.name, content_type="x/binary")
    answer(listener, "task", "fine")
    assert waiting.result(5)["result"] == "fine"
    assert listener.connected.is_set()


def test_progress_states_do_not_answer(listener):
    waiting = listener.expect("task")
    with kombu.Connection(BROKER) as connection:
        producer = kombu.Producer(connection.channel())
        for status in ("STARTED", "SUCCESS"):
            producer.publish(
                {"status": status, "result": status, "task_id": "task"},
                routing_key=listener.queue.name,
                correlation_id="task",
                serializer="json",
            )
    assert waiting.result(5)["result"] == "SUCCESS"
