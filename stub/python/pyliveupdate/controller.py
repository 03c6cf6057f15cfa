"""``pylu-controller``: sends commands to running stubs and prints each one's answer under its pid.

Targets: every live stub of ours in the trace directory (default ``/tmp/pyliveupdate/<uid>/``), ``--pid N``
(repeatable), or ``--address '127.0.0.1:50050;127.0.0.1:50051'`` (loopback TCP, token from the 0600 token file).
Each target is talked to over one connection for the whole session (its command namespace lives as long).
Commands: ``-c CMD`` (repeatable), ``-f FILE`` or standard input (one command per line), else an interactive
prompt with history. ``patch('file.py')`` sends that file's code. The exit status is non-zero when any target
failed a command (or applied an update that records nothing), could not be reached, or did not answer within
``--timeout``. A target that does not answer in time is kept: its answer is shown when it comes, before the next
command is sent to it. A closed standard output (``pylu-controller ... | head``) ends the controller quietly.
"""

from __future__ import annotations

import argparse
import ast
import os
import select
import socket
import stat
import sys
from dataclasses import dataclass

from . import paths
from .control import auth
from .control.commands import COMMAND_FILENAME
from .control.protocol import ProtocolError, recv_message, send_message

HISTORY_FILE = os.path.expanduser("~/.pylu_controller_history")


class TargetGone(Exception):
    pass


class TimedOut(Exception):
    """No answer in time; the connection is kept and the answer is read when it comes."""


@dataclass
class Target:
    """One stub, over one connection kept for the whole session: its command namespace lives as long."""

    label: str
    unix_path: str | None = None
    tcp: tuple | None = None
    token: str | None = None
    sock: socket.socket | None = None
    # Commands sent whose answers have not come yet (they timed out): read before anything is sent again, so
    # that each answer is shown for its own command.
    pending: int = 0

    def _connect(self, timeout: float | None) -> socket.socket:
        if self.unix_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(self.unix_path)
                # The stub proves itself too: a socket of another user is not ours to send code to.
                if auth.peer_uid(sock) != os.getuid():
                    raise TargetGone("socket is served by another user")
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection(self.tcp, timeout=timeout)
        try:
            send_message(sock, {"op": "auth", "token": self.token})
            answer = recv_message(sock)
            if not answer.get("ok"):
                raise TargetGone(answer.get("error") or "refused")
        except BaseException:
            sock.close()
            raise
        return sock

    def _answer(self, timeout: float | None) -> dict:
        """The next answer, waiting up to `timeout` for it to start (TimedOut: nothing was read, the connection
        stays in step); once it has started, a message cut for as long again is a broken connection."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimedOut()
        self.sock.settimeout(timeout)
        return recv_message(self.sock)

    def request(self, message: dict, timeout: float | None) -> dict:
        try:
            if self.sock is None:
                self.sock = self._connect(timeout)
            self.sock.settimeout(timeout)
            send_message(self.sock, message)
            try:
                return self._answer(timeout)
            except TimedOut:
                self.pending += 1
                raise
        except (OSError, ProtocolError) as err:
            self.close()
            raise TargetGone(str(err) or type(err).__name__) from None

    def late_answers(self, timeout: float | None) -> list:
        """The answers still owed for commands that timed out, waiting up to `timeout` for each; raises
        TimedOut when one has still not come (the target is still busy)."""
        answers = []
        try:
            while self.pending and self.sock is not None:
                answers.append(self._answer(timeout))
                self.pending -= 1
        except TimedOut:
            if answers:
                return answers
            raise
        except (OSError, ProtocolError) as err:
            self.close()
            raise TargetGone(str(err) or type(err).__name__) from None
        return answers

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def discover(tdir: paths.TraceDir, pids: list) -> tuple:
    """(targets, notes): our stubs' sockets in the verified directory `tdir` (only `pids` if given)."""
    targets, notes = [], []
    wanted = set(pids)
    found = set()
    for name in sorted(os.listdir(tdir.fd)):
        pid = paths.pid_of_socket(name)
        if pid is None or (wanted and pid not in wanted):
            continue
        try:
            st = os.stat(name, dir_fd=tdir.fd, follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            continue
        if not paths.pid_alive(pid):
            # A process killed without its exit handlers leaves its socket behind; nobody can answer on it (a
            # new process given the pid replaces it when its stub starts), so it is removed, once, and said.
            try:
                paths.remove_stale_socket(tdir, name)
            except (OSError, paths.UnsafePath):
                notes.append(f"pid {pid}: not running (stale socket {tdir.file_path(name)})")
            else:
                notes.append(f"pid {pid}: not running (its stale socket {tdir.file_path(name)} removed)")
            continue
        found.add(pid)
        targets.append(Target(label=f"pid {pid}", unix_path=tdir.fd_path(name)))
    for pid in sorted(wanted - found):
        notes.append(f"pid {pid}: no stub socket of ours in {tdir.path}")
    return targets, notes


def tcp_targets(addresses: str, token: str) -> list:
    out = []
    for address in filter(None, (a.strip() for a in addresses.replace(",", ";").split(";"))):
        host, port = auth.loopback_address(address)
        out.append(Target(label=address, tcp=(host, port), token=token))
    return out


def read_token(tdir: paths.TraceDir | None, token_file: str | None) -> str:
    explicit = token_file or os.environ.get("PYLU_TOKEN_FILE")
    if explicit:
        return auth.read_token(explicit)
    if tdir is None:
        raise auth.AuthError("no trace directory to read the token from: give --token-file")
    return auth.read_token(paths.token_name(), tdir.fd, tdir.file_path(paths.token_name()))


def expand_patch(command: str) -> tuple:
    """``patch('file.py')`` → (the file's code, its name); any other command → (command, '<pylu>')."""
    text = command.strip()
    if text.startswith("patch(") and text.endswith(")"):
        try:
            call = ast.parse(text, mode="eval").body
            if isinstance(call, ast.Call) and len(call.args) == 1 and not call.keywords:
                path = ast.literal_eval(call.args[0])
                with open(path) as f:
                    return f.read(), os.path.abspath(path)
        except (ValueError, SyntaxError):
            pass
    return command, COMMAND_FILENAME


class Session:
    def __init__(self, targets: list, timeout: float | None, out=sys.stdout, full_traceback: bool = False) -> None:
        self.targets = targets
        self.timeout = timeout
        self.full_traceback = full_traceback
        self.out = out
        self.failures = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def broadcast(self, command: str) -> bool:
        try:
            code, filename = expand_patch(command)
        except OSError as err:
            self.say(f"cannot read patch file: {err}")
            self.failures += 1
            return False
        if not self.targets:
            self.say("no targets left")
            self.failures += 1
            return False
        all_ok = True
        wait = "no limit" if self.timeout is None else f"{self.timeout:g} s"
        for target in list(self.targets):
            try:
                if target.pending:
                    try:
                        for late in target.late_answers(self.timeout):
                            self.show(target, late, " (late answer to an earlier command)")
                    except TimedOut:
                        pass
                if target.pending:
                    # Its answers come in order: this command's would be taken for the earlier one's.
                    self.say(
                        f"[{target.label}] not sent: still waiting for an earlier command's answer after {wait} "
                        "(target kept)"
                    )
                    all_ok = False
                    continue
                message = {"op": "run", "code": code, "filename": filename}
                if self.full_traceback:
                    message["traceback"] = True
                reply = target.request(message, self.timeout)
            except TimedOut:
                self.say(
                    f"[{target.label}] timed out: no answer within {wait} (the command may still be running; "
                    "target kept, its answer shown when it comes)"
                )
                all_ok = False
                continue
            except TargetGone as why:
                self.say(f"[{target.label}] unreachable ({why}): dropped")
                self.targets.remove(target)
                all_ok = False
                continue
            all_ok = self.show(target, reply) and all_ok
        if not all_ok:
            self.failures += 1
        return all_ok

    def show(self, target: Target, reply: dict, note: str = "") -> bool:
        """Prints one answer under its target; whether it succeeded."""
        label = f"pid {reply.get('pid')}" if target.tcp else target.label
        body = (reply.get("output") or "") + (reply.get("error") or "")
        # An update applied where nothing can be recorded is a failure, whatever the command answered.
        ok = bool(reply.get("ok")) and not reply.get("records_nothing")
        self.say(f"[{label}]{'' if ok else ' ERROR'}{note}")
        if body:
            self.say(body.rstrip("\n"))
        if reply.get("recording"):
            nothing = ": this update records nothing" if reply.get("records_nothing") else ""
            self.say(f"pylu: {reply['recording']}{nothing}")
        return ok


def _commands_from_lines(lines) -> list:
    return [ln.rstrip("\n") for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def repl(session: Session) -> None:
    try:
        import readline

        try:
            readline.read_history_file(HISTORY_FILE)
        except OSError:
            pass
    except ImportError:
        readline = None
    session.say(f"pylu-controller: {len(session.targets)} target(s): {', '.join(t.label for t in session.targets)}")
    session.say("commands run in each target; e.g. FP.profile(['__main__.**']), LU.ls(), LU.revert(1); Ctrl-D quits")
    try:
        while True:
            try:
                line = input("pylu> ")
            except EOFError:
                session.say("")
                break
            except KeyboardInterrupt:
                session.say("")
                continue
            if line.strip() in ("exit", "quit", "exit()", "quit()"):
                break
            if line.strip():
                session.broadcast(line)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(HISTORY_FILE)
            except OSError:
                pass


def main(argv=None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader of our output went away (`pylu-controller ... | head`): stop quietly, as `head` meant. Later
        # writes, including the interpreter's flush at exit, go to /dev/null so no second error is printed.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pylu-controller", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, action="append", default=[], help="target this process (repeatable)")
    parser.add_argument("-l", "--address", help="loopback TCP targets, e.g. '127.0.0.1:50050;127.0.0.1:50051'")
    parser.add_argument("--token-file", help="token for TCP targets (default: $PYLU_TOKEN_FILE or the trace directory's token-UID)")
    parser.add_argument("--trace-dir", help="where the stubs' sockets are (default: $PYLU_TRACE_DIR or /tmp/pyliveupdate/UID)")
    parser.add_argument("-c", "--command", action="append", default=[], help="run this command and exit (repeatable)")
    parser.add_argument("-f", "--file", help="run the commands in FILE, one per line ('-' for stdin)")
    parser.add_argument(
        "--timeout", type=float, default=120.0,
        help="seconds to wait for each answer; a target that takes longer is reported as timed out and kept",
    )
    parser.add_argument(
        "--traceback", action="store_true",
        help="show the stub's full traceback of a failed command (default: the one line that matters)",
    )
    args = parser.parse_args(argv)

    try:
        tdir = paths.open_trace_dir(args.trace_dir, create=False)
    except FileNotFoundError:
        tdir = None
    except OSError as err:
        print(f"pylu-controller: {err}", file=sys.stderr)
        return 2
    where = tdir.path if tdir else (args.trace_dir or paths.configured_dir() or paths.SHARED_ROOT)
    if args.address:
        try:
            targets = tcp_targets(args.address, read_token(tdir, args.token_file))
        except (auth.AuthError, ValueError, OSError) as err:
            print(f"pylu-controller: {err}", file=sys.stderr)
            return 2
        notes = []
    elif tdir is None:
        targets, notes = [], []
    else:
        targets, notes = discover(tdir, args.pid)
    for note in notes:
        print(note, file=sys.stderr)
    if not targets:
        print(f"pylu-controller: no running stub found in {where}", file=sys.stderr)
        return 2
    session = Session(targets, args.timeout, full_traceback=args.traceback)

    if args.command:
        commands = list(args.command)
    elif args.file:
        if args.file == "-":
            commands = _commands_from_lines(sys.stdin)
        else:
            with open(args.file) as f:
                commands = _commands_from_lines(f)
    elif not sys.stdin.isatty():
        commands = _commands_from_lines(sys.stdin)
    else:
        repl(session)
        return 1 if session.failures else 0
    for command in commands:
        session.broadcast(command)
    return 1 if (session.failures or notes and args.pid) else 0


if __name__ == "__main__":
    sys.exit(main())
