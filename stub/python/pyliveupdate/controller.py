"""``pylu-controller``: sends commands to running stubs and prints each one's answer under its pid.

Targets: every live stub of ours in the trace directory (default), ``--pid N`` (repeatable), or
``--address '127.0.0.1:50050;127.0.0.1:50051'`` (loopback TCP, token from the 0600 token file).
Commands: ``-c CMD`` (repeatable), ``-f FILE`` or standard input (one command per line), else an interactive
prompt with history. ``patch('file.py')`` sends that file's code. The exit status is non-zero when any target
failed a command or could not be reached.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import socket
import stat
import sys
from dataclasses import dataclass

from . import paths
from .control import auth
from .control.protocol import ProtocolError, recv_message, send_message

HISTORY_FILE = os.path.expanduser("~/.pylu_controller_history")


class TargetGone(Exception):
    pass


@dataclass
class Target:
    label: str
    unix_path: str | None = None
    tcp: tuple | None = None
    token: str | None = None

    def request(self, message: dict, timeout: float | None) -> dict:
        try:
            if self.unix_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(self.unix_path)
                # The stub proves itself too: a socket of another user is not ours to send code to.
                if auth.peer_uid(sock) != os.getuid():
                    sock.close()
                    raise TargetGone("socket is served by another user")
            else:
                sock = socket.create_connection(self.tcp, timeout=timeout)
                message = dict(message, token=self.token)
            with sock:
                send_message(sock, message)
                return recv_message(sock)
        except (OSError, ProtocolError) as err:
            raise TargetGone(str(err) or type(err).__name__) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def discover(directory: str, pids: list) -> tuple:
    """(targets, notes): our stubs' sockets in `directory` (only `pids` if given)."""
    targets, notes = [], []
    wanted = set(pids)
    found = set()
    for path in sorted(glob.glob(os.path.join(directory, paths.SOCKET_PREFIX + "*" + paths.SOCKET_SUFFIX))):
        pid = paths.pid_of_socket(path)
        if pid is None or (wanted and pid not in wanted):
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
            continue
        if not _alive(pid):
            notes.append(f"pid {pid}: not running (stale socket {path})")
            continue
        found.add(pid)
        targets.append(Target(label=f"pid {pid}", unix_path=path))
    for pid in sorted(wanted - found):
        notes.append(f"pid {pid}: no stub socket of ours in {directory}")
    return targets, notes


def tcp_targets(addresses: str, token_file: str) -> list:
    token = auth.read_token(token_file)
    out = []
    for address in filter(None, (a.strip() for a in addresses.replace(",", ";").split(";"))):
        host, port = auth.loopback_address(address)
        out.append(Target(label=address, tcp=(host, port), token=token))
    return out


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
    return command, "<pylu>"


class Session:
    def __init__(self, targets: list, timeout: float | None, out=sys.stdout) -> None:
        self.targets = targets
        self.timeout = timeout
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
        for target in list(self.targets):
            try:
                reply = target.request({"op": "run", "code": code, "filename": filename}, self.timeout)
            except TargetGone as why:
                self.say(f"[{target.label}] unreachable ({why}): dropped")
                self.targets.remove(target)
                all_ok = False
                continue
            label = f"pid {reply.get('pid')}" if target.tcp else target.label
            body = (reply.get("output") or "") + (reply.get("error") or "")
            status = "" if reply.get("ok") else " ERROR"
            self.say(f"[{label}]{status}")
            if body:
                self.say(body.rstrip("\n"))
            all_ok = all_ok and bool(reply.get("ok"))
        if not all_ok:
            self.failures += 1
        return all_ok


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
    parser = argparse.ArgumentParser(prog="pylu-controller", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, action="append", default=[], help="target this process (repeatable)")
    parser.add_argument("--address", help="loopback TCP targets, e.g. '127.0.0.1:50050;127.0.0.1:50051'")
    parser.add_argument("--token-file", help="token for TCP targets (default: the trace directory's token-UID)")
    parser.add_argument("--trace-dir", help="where the stubs' sockets are (default: $PYLU_TRACE_DIR or /tmp/pyliveupdate)")
    parser.add_argument("-c", "--command", action="append", default=[], help="run this command and exit (repeatable)")
    parser.add_argument("-f", "--file", help="run the commands in FILE, one per line ('-' for stdin)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each answer")
    args = parser.parse_args(argv)

    directory = args.trace_dir or paths.trace_dir()
    if args.address:
        try:
            targets = tcp_targets(args.address, args.token_file or paths.default_token_file(directory))
        except (auth.AuthError, ValueError, OSError) as err:
            print(f"pylu-controller: {err}", file=sys.stderr)
            return 2
        notes = []
    else:
        targets, notes = discover(directory, args.pid)
    for note in notes:
        print(note, file=sys.stderr)
    if not targets:
        print(f"pylu-controller: no running stub found in {directory}", file=sys.stderr)
        return 2
    session = Session(targets, args.timeout)

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
