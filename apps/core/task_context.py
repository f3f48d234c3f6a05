"""Carry the request id from the code that enqueues a Celery task to the worker that runs it.

``before_task_publish`` puts the current request id in the message's
headers; ``task_prerun`` starts a log context with it in the worker (or, for
a message without one, such as a beat task, with a new id), and
``task_postrun`` ends that context. Tasks run eagerly keep the caller's
context and add their task id.
"""

from celery.signals import before_task_publish, task_postrun, task_prerun

from apps.core import log_context

# The message header that carries the request id; prefixed so that it cannot clash with Celery's own fields.
REQUEST_ID_HEADER = "backoffice_request_id"

_tokens: dict[str, object] = {}


@before_task_publish.connect(dispatch_uid="core.task_context.add_request_id")
def add_request_id(headers: dict | None = None, **kwargs) -> None:
    """Put the current request id in the headers of a task message being published."""
    request_id = log_context.current_request_id()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect(dispatch_uid="core.task_context.start")
def start_task_context(task_id: str | None = None, task=None, **kwargs) -> None:
    """Start the task's log context with the request id from its message, the caller's, or a new one."""
    offered = log_context.clean_request_id(getattr(getattr(task, "request", None), REQUEST_ID_HEADER, None))
    if offered:
        token = log_context.start(offered, task_id=task_id)
    else:
        caller = dict(log_context.current())
        request_id = caller.pop("request_id", "") or log_context.new_request_id()
        caller["task_id"] = task_id
        token = log_context.start(request_id, **caller)
    if task_id:
        _tokens[task_id] = token


@task_postrun.connect(dispatch_uid="core.task_context.end")
def end_task_context(task_id: str | None = None, **kwargs) -> None:
    """Restore the log context that was current before the task started."""
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        log_context.end(token)
