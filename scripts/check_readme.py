"""Runs the README's shell blocks in order and compares what they print with what it shows.

Called by scripts/check-readme, which starts the service first; see that script for the why.

How the README marks its blocks (HTML comments, invisible when rendered):
- `<!-- check-readme: run -->` on the line before a ```sh fence: run this block.
- `<!-- check-readme: skip (reason) -->`: do not run it, for the stated reason (Docker, an
  editor, a long-running command). Every ```sh block carries one of the two, so a new block is
  never skipped by accident.
- `<!-- check-readme: output -->` before a fence (```http, ```json, ```text): what the last
  command of the run block above prints.
Inside a run block, comment lines right after a command, with no blank line between, are what
that command prints (`# {"status":"ok"}`); a comment after a blank line is prose.

All blocks run in one bash, in order, with `set -eo pipefail`, so a variable set in one block
(`ID=$(...)`) is there in the next, and a failing command stops the check naming its block.

"Loosely" means: an HTTP status line must match by code; every header shown must be there; JSON
must have exactly the keys shown (`...` allows more) with the values shown, where ids, UUIDs
(request ids), RFC 3339 times and the keys in VOLATILE may differ; text lines must each appear, any number may differ.
"""

import atexit
import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time

VOLATILE = {"latency_ms", "age_s", "calls_this_minute", "calls_today", "next_cursor"}
ID = re.compile(r"\b[0-9a-f]{24}\b")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
MARKER = re.compile(r"<!--\s*check-readme:\s*(run|skip|output)\b(.*?)-->")
COMMAND_TIMEOUT_S = 120


class Mismatch(Exception):
    pass


# --- The README's blocks -------------------------------------------------------------------


def blocks(lines):
    """Yields (kind, first line number, fence info, body lines) for every fenced block."""
    marker = None
    i = 0
    while i < len(lines):
        line = lines[i]
        found = MARKER.search(line)
        if found:
            marker = found.group(1)
            if marker == "skip" and not re.fullmatch(r"\s*\(.+\)\s*", found.group(2)):
                marker = "skip without a reason"
        elif line.lstrip().startswith("```"):
            # Fences may be indented (a block inside a list item): so is their body.
            indent = len(line) - len(line.lstrip())
            info = line.lstrip()[3:].strip()
            start = i + 1
            i += 1
            body = []
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                body.append(lines[i][indent:])
                i += 1
            yield marker, start, info, body
            marker = None
        elif line.strip():
            # A marker belongs to the fence right after it.
            if marker is not None and not line.lstrip().startswith("<!--"):
                marker = None
        i += 1


def commands(body):
    """Splits a run block into (command, shown output lines or None). A command ends at a line
    without a trailing backslash; comment lines right after it (no blank line between) are what
    it prints."""
    result = []
    i = 0
    while i < len(body):
        stripped = body[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        command = [body[i]]
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", body[i])
        if heredoc:
            # A here-document is part of its command, up to its closing word.
            while i + 1 < len(body) and body[i].strip() != heredoc.group(1):
                i += 1
                command.append(body[i])
        while body[i].rstrip().endswith("\\") and i + 1 < len(body):
            i += 1
            command.append(body[i])
        i += 1
        shown = []
        while i < len(body) and body[i].strip().startswith("#"):
            text = body[i].strip()[1:]
            shown.append(text[1:] if text.startswith(" ") else text)
            i += 1
        result.append(("\n".join(command), shown or None))
    return result


# --- Comparing -----------------------------------------------------------------------------


ELLIPSIS = object()


class LooseJson:
    """A JSON parser that also takes `...` for "more of the same" in objects and arrays."""

    def __init__(self, text):
        self.text, self.at = text, 0

    def parse(self):
        value = self.value()
        self.space()
        if self.at != len(self.text):
            raise ValueError(f"unexpected text at {self.at}: {self.text[self.at:self.at + 20]!r}")
        return value

    def space(self):
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1

    def value(self):
        self.space()
        if self.text.startswith("...", self.at):
            self.at += 3
            return ELLIPSIS
        char = self.text[self.at]
        if char == "{":
            return self.members()
        if char == "[":
            return self.elements()
        decoder = json.JSONDecoder()
        value, end = decoder.raw_decode(self.text, self.at)
        self.at = end
        return value

    def members(self):
        self.at += 1
        result = {}
        while True:
            self.space()
            if self.text[self.at] == "}":
                self.at += 1
                return result
            if self.text.startswith("...", self.at):
                self.at += 3
                result[ELLIPSIS] = True
            else:
                key = self.value()
                self.space()
                if self.text[self.at] != ":":
                    raise ValueError(f"expected ':' at {self.at}")
                self.at += 1
                result[key] = self.value()
            self.space()
            if self.text[self.at] == ",":
                self.at += 1

    def elements(self):
        self.at += 1
        result = []
        while True:
            self.space()
            if self.text[self.at] == "]":
                self.at += 1
                return result
            result.append(self.value())
            self.space()
            if self.text[self.at] == ",":
                self.at += 1


def normalized(text):
    return TIME.sub("<time>", ID.sub("<id>", UUID.sub("<uuid>", text)))


def compare_json(shown, actual, path="$"):
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            raise Mismatch(f"{path}: shown an object, got {json.dumps(actual)[:80]}")
        open_ended = shown.get(ELLIPSIS, False)
        keys = [k for k in shown if k is not ELLIPSIS]
        missing = [k for k in keys if k not in actual]
        if missing:
            raise Mismatch(f"{path}: missing {missing}")
        extra = [k for k in actual if k not in shown]
        if extra and not open_ended:
            raise Mismatch(f"{path}: not shown in the README: {extra}")
        for key in keys:
            if key in VOLATILE:
                if (shown[key] is None) != (actual[key] is None):
                    raise Mismatch(f"{path}.{key}: shown {shown[key]!r}, got {actual[key]!r}")
                continue
            compare_json(shown[key], actual[key], f"{path}.{key}")
    elif isinstance(shown, list):
        if not isinstance(actual, list):
            raise Mismatch(f"{path}: shown an array, got {json.dumps(actual)[:80]}")
        items = [item for item in shown if item is not ELLIPSIS]
        if ELLIPSIS in shown:
            if len(actual) < len(items):
                raise Mismatch(f"{path}: shown at least {len(items)} items, got {len(actual)}")
        elif len(actual) != len(items):
            raise Mismatch(f"{path}: shown {len(items)} items, got {len(actual)}")
        for index, item in enumerate(items):
            compare_json(item, actual[index], f"{path}[{index}]")
    elif shown is ELLIPSIS:
        return
    elif isinstance(shown, str):
        if not isinstance(actual, str) or normalized(shown) != normalized(actual):
            raise Mismatch(f"{path}: shown {shown!r}, got {actual!r}")
    elif shown != actual:
        raise Mismatch(f"{path}: shown {shown!r}, got {actual!r}")


def compare(shown_lines, actual):
    shown = "\n".join(shown_lines).strip()
    actual = actual.replace("\r\n", "\n").strip()
    if shown.startswith("HTTP/"):
        compare_http(shown, actual)
    elif shown.startswith(("{", "[")) and parses(shown):
        compare_json(LooseJson(shown).parse(), parse_actual_json(actual))
    else:
        compare_text(shown, actual)


def parses(shown):
    try:
        LooseJson(shown).parse()
        return True
    except (ValueError, IndexError):
        return False


def parse_actual_json(text):
    try:
        return json.loads(text)
    except ValueError:
        raise Mismatch(f"shown JSON, got {text[:200]!r}")


def compare_http(shown, actual):
    shown_head, _, shown_body = shown.partition("\n\n")
    actual_head, _, actual_body = actual.partition("\n\n")
    shown_status, *shown_headers = shown_head.split("\n")
    actual_status, *actual_headers = actual_head.split("\n")
    if shown_status.split()[1] != (actual_status.split() + ["", ""])[1]:
        raise Mismatch(f"shown {shown_status!r}, got {actual_status!r}")
    headers = {}
    for line in actual_headers:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    for line in shown_headers:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name not in headers:
            raise Mismatch(f"header {name!r} is missing (got {sorted(headers)})")
        if normalized(value.strip()) != normalized(headers[name]):
            raise Mismatch(f"header {name}: shown {value.strip()!r}, got {headers[name]!r}")
    if shown_body.strip():
        compare_json(LooseJson(shown_body).parse(), parse_actual_json(actual_body))


def compare_text(shown, actual):
    def loose(line):
        return re.sub(r"\d+", "N", normalized(line.strip()))

    actual_lines = {loose(line) for line in actual.split("\n")}
    for line in shown.split("\n"):
        if line.strip() and line.strip() != "..." and loose(line) not in actual_lines:
            raise Mismatch(f"shown {line.strip()!r}, not in what was printed:\n{actual}")


# --- The step-by-step guide --------------------------------------------------------------


def guide_subjects(lines):
    """The commit subjects the guide names, in order, as (step number or None, subject): each
    step's **bold** title, and the *italic* ones of commits that only updated the guide.
    Markdown may wrap them over lines."""
    start = lines.index("## Step-by-step guide")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    text = " ".join(line.strip() for line in lines[start + 1:end])
    pattern = r"(?:(\d+)\. )?\*\*(.+?)\*\*|(?<![*\w])\*([^*]+?)\*(?![*\w])"
    return [(number or None, bold or italic) for number, bold, italic in re.findall(pattern, text)]


def check_guide(lines, print_steps):
    """Every subject the guide names is one commit's, and every commit is named."""
    if not os.path.isdir(".git") or subprocess.run(
            ["git", "rev-parse", "--is-shallow-repository"], capture_output=True,
            text=True).stdout.strip() != "false":
        print("check-readme: no full git history here; the guide was not compared with it")
        return []
    log = subprocess.run(["git", "log", "--reverse", "--format=%h %s"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    hashes = {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in log}
    steps = guide_subjects(lines)
    named = {subject for _, subject in steps}
    failures = [f"the guide names {subject!r}, which is no commit's subject"
                for _, subject in steps if subject not in hashes]
    failures += [f"commit {hashes[subject]} {subject!r} is not in the guide"
                 for subject in hashes if subject not in named]
    if print_steps:
        for number, subject in steps:
            label = f"step {number}" if number else "(guide)"
            print(f"{label:>9}  {hashes.get(subject, '???????')}  {subject}")
    return failures


# --- Running -------------------------------------------------------------------------------


class Shell:
    """One bash for the whole README, fed a command at a time."""

    def __init__(self):
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.count = 0
        self.stderr = tempfile.NamedTemporaryFile(prefix="check-readme-", delete=False).name
        # Read after each command, so removed only when the check ends.
        atexit.register(os.remove, self.stderr)
        self.send("set -eo pipefail\n")

    def send(self, text):
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def run(self, command):
        """What `command` printed on stdout, or a Mismatch (with its stderr) when it failed.

        Braces, not a subshell, so that a variable it sets stays set; stderr goes to a file,
        so that curl's progress meter (shown when stdout is not a terminal) is not compared."""
        self.count += 1
        mark = f"__check_readme_{self.count}__"
        self.send(f"{{\n{command}\n}} 2>{self.stderr}\nprintf '\\n{mark}\\n'\n")
        output = b""
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while f"\n{mark}\n".encode() not in output:
            if not selector.select(timeout=max(0, deadline - time.monotonic())):
                raise Mismatch(f"no end after {COMMAND_TIMEOUT_S} s; printed:\n{output.decode()}")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                self.process.wait()
                errors = open(self.stderr, encoding="utf-8", errors="replace").read()
                raise Mismatch(f"failed; printed:\n{output.decode()}{errors}")
            output += chunk
        return output.decode().split(f"\n{mark}\n")[0]


def substitute(command, settings):
    """Points the README's default address of the service at the port it was started on."""
    for default, ours in settings.items():
        command = command.replace(default, ours)
    return command


def main():
    if sys.argv[1] == "--guide":
        lines = open(sys.argv[2], encoding="utf-8").read().split("\n")
        failures = check_guide(lines, print_steps=True)
        for failure in failures:
            print(f"FAILED {failure}", file=sys.stderr)
        return 1 if failures else 0
    readme, port = sys.argv[1:3]
    settings = {"localhost:8080": f"localhost:{port}"}
    lines = open(readme, encoding="utf-8").read().split("\n")
    shell = Shell()
    ran = skipped = checked = 0
    last_output = None
    failures = []
    for marker, line, info, body in blocks(lines):
        where = f"{readme}:{line}"
        if marker == "output":
            if last_output is None:
                failures.append(f"{where}: an output block with no run block before it")
                continue
            command, printed = last_output
            try:
                compare(body, printed)
                checked += 1
            except (Mismatch, ValueError) as err:
                failures.append(f"{where}: `{command}` did not print what is shown: {err}")
            continue
        last_output = None
        if info.split()[:1] not in (["sh"], ["bash"]):
            continue
        if marker is None:
            failures.append(f"{where}: a sh block without a check-readme marker (run or skip)")
            continue
        if marker == "skip without a reason":
            failures.append(f"{where}: a skipped block must say why: skip (reason)")
            continue
        if marker == "skip":
            skipped += 1
            continue
        ran += 1
        for command, shown in commands(body):
            try:
                printed = shell.run(substitute(command, settings))
            except Mismatch as err:
                failures.append(f"{where}: `{command}` {err}")
                report(ran, skipped, checked, failures)
                return 1
            print(f"$ {command}\n{printed}", flush=True)
            last_output = (command, printed)
            if shown is not None:
                try:
                    compare(shown, printed)
                    checked += 1
                except (Mismatch, ValueError) as err:
                    failures.append(f"{where}: `{command}` did not print what is shown: {err}")
    failures += check_guide(lines, print_steps=False)
    return report(ran, skipped, checked, failures)


def report(ran, skipped, checked, failures):
    print(f"\ncheck-readme: ran {ran} blocks, skipped {skipped} (each with its reason), "
          f"compared {checked} shown outputs")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
