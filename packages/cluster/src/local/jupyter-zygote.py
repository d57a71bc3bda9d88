"""Jupyter zygote: imports Jupyter Server once, then forks a server per session.

Starting `jupyter server` costs an interpreter start and ~1.5-2.5 s of imports
on a small node, most of a warm resume. This process pays that once: it
preloads Jupyter Server and the modules its extensions import at start, then
waits for requests from the agent and answers each with a forked server that
is listening in ~0.2 s.

Protocol, one JSON object per line. The zygote writes {"ready": true,
"preloadMs": N} once preloaded. The agent writes

    {"id": 1, "argv": ["server", "--no-browser", ...], "env": {...},
     "cwd": "/sessions/s1/home", "log": "/sessions/s1/session.log"}

and reads back {"id": 1, "pid": 4242} (or {"id": 1, "error": "..."}); when a
forked server exits the zygote writes {"exit": 4242, "detail": "exit code 0"}.

A forked server is set up as `spawn(jupyter, argv, {cwd, env, detached})`
would: a new session and process group, the request's environment only, stdin
from /dev/null, stdout and stderr appended to the log, default signal
dispositions. Its /proc/<pid>/environ and cmdline still show the zygote's
(that is how fork works), so the zygote itself runs with a minimal
environment, and the agent recognises its sessions by pid and start time.

End of input (the agent exited) ends the zygote; the servers keep running,
as sessions outlive their agent.
"""

import json
import os
import select
import signal
import sys
import time

# What `jupyter server` imports at start beyond jupyter_server.serverapp, for the
# usual extensions (JupyterLab, LSP, terminals, notebook shim); absent ones are skipped.
PRELOAD = (
    "jupyter_server.serverapp",
    "jupyter_server.services.contents.largefilemanager",
    "jupyter_server.gateway.managers",
    "jupyter_client.manager",
    "jupyter_client.ioloop.manager",
    "jupyterlab.labapp",
    "jupyterlab_server",
    "jupyter_lsp",
    "jupyter_lsp.serverextension",
    "jupyter_server_terminals",
    "terminado",
    "notebook_shim.nbserver",
    "IPython",
    "requests",
    "httpx",
    "babel",
    "json5",
    "jinja2",
    "pygments",
)


def preload():
    import jupyter_server.serverapp  # noqa: F401  (required: fail loudly without it)

    for name in PRELOAD[1:]:
        try:
            __import__(name)
        except Exception:  # an optional extension that is not installed, or broken
            pass


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def describe(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return "killed by " + signal.Signals(number).name
        except ValueError:  # a signal Python has no name for (real-time signals)
            return "killed by signal %d" % number
    return "exit code %d" % os.waitstatus_to_exitcode(status)


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send({"exit": pid, "detail": describe(status)})


def use_session_site():
    """The session's user site-packages (~/.local/lib/pythonX.Y/site-packages of its HOME), as a spawned server would
    have it: the zygote runs with -s (no user site of its own), so a server extension a user installed with
    `pip install --user` loads and the agent user's never does."""
    import site

    site.USER_BASE = None
    site.USER_SITE = None
    user_site = site.getusersitepackages()
    if os.path.isdir(user_site):
        site.addsitedir(user_site)


def become_server(request, wakeup_fds):
    """In the forked child: set up like a spawned process, then run Jupyter Server. Never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        for fd in wakeup_fds:
            os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 65536)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        use_session_site()
        sys.argv = ["jupyter-server"] + list(request["argv"][1:])
        from jupyter_server.serverapp import main

        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve():
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select(); reaped below
    buffered = b""
    stdin = 0
    while True:
        readable, _, _ = select.select([stdin, read_fd], [], [])
        if read_fd in readable:
            try:
                os.read(read_fd, 512)
            except BlockingIOError:
                pass
            reap()
        if stdin not in readable:
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            return
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            if not line.strip():
                continue
            request = {}
            try:
                request = json.loads(line)
                pid = os.fork()
            except Exception as e:
                send({"id": request.get("id"), "error": str(e)})
                continue
            if pid == 0:
                become_server(request, (read_fd, write_fd))
            send({"id": request["id"], "pid": pid})
        reap()


if __name__ == "__main__":
    started = time.monotonic()
    try:
        preload()
    except Exception as e:
        send({"ready": False, "error": "%s: %s" % (type(e).__name__, e)})
        sys.exit(1)
    send({"ready": True, "preloadMs": round((time.monotonic() - started) * 1000)})
    serve()
