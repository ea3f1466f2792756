"""Rules of issue 9 for the image that hadolint does not check, as a function of the Dockerfile text.

``problems(text)`` returns one line per broken rule (empty: all kept): multi-stage, a slim
Python 3.11 base for the final stage, a non-root numeric USER, a HEALTHCHECK, no compiler or
package installation in the final stage, no secret in ENV/ARG, no .env copied.
"""

from __future__ import annotations

import re

_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE|API_KEY|HASH_KEY|SIGNING_KEY)", re.IGNORECASE)
_BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|cargo|rustc|[a-z0-9.+-]+-dev)\b")


def parse(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order; continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The instructions grouped by build stage (each starting with its FROM)."""
    out: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    all_stages = stages(instructions)
    return all_stages[-1] if all_stages else []


def _base_image(from_args: str, instructions: list[tuple[str, str]]) -> str:
    image = next(a for a in from_args.split() if not a.startswith("--"))
    for instruction, args in instructions:
        if instruction == "ARG" and "=" in args:
            name, _, default = (part.strip() for part in args.partition("="))
            image = image.replace("${" + name + "}", default).replace("$" + name, default)
    return image


def problems(text: str) -> list[str]:
    """Every rule of the issue that the Dockerfile ``text`` breaks."""
    instructions = parse(text)
    found = []
    all_stages = stages(instructions)
    if len(all_stages) < 2:
        found.append("not multi-stage: build in one stage, copy the result into a clean final stage")
    final = all_stages[-1] if all_stages else []
    if final:
        base = _base_image(final[0][1], instructions)
        if not re.fullmatch(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?", base):
            found.append(f"final stage base {base!r} is not a slim Python 3.11 image")
    users = [args for instruction, args in final if instruction == "USER"]
    if not users:
        found.append("final stage has no USER: it would run as root")
    elif users[-1].split(":")[0] in ("root", "0") or not users[-1].split(":")[0].isdigit():
        found.append(f"final USER {users[-1]!r} must be a numeric non-root uid (runAsNonRoot checks it)")
    if not any(instruction == "HEALTHCHECK" and args.upper() != "NONE" for instruction, args in final):
        found.append("final stage has no HEALTHCHECK")
    for instruction, args in final:
        if instruction == "RUN" and re.search(r"\b(apt-get|apk|yum|dnf)\b.*\binstall\b", args) and _BUILD_TOOLS.search(
                args.split("install", 1)[1]):
            found.append(f"build tools installed in the final stage: {args[:80]!r}")
        if instruction == "RUN" and re.search(r"\bpip3?\s+install\b", args):
            found.append("pip install in the final stage: install in the build stage and copy the virtualenv")
    for instruction, args in instructions:
        if instruction in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]:
                if _SECRET_NAME.search(name):
                    found.append(f"{instruction} {name}: a secret baked into the image")
        if instruction in ("COPY", "ADD") and re.search(r"(^|\s|/)\.env(\s|$|\.)", args):
            found.append(f"{instruction} copies a .env file into the image")
    return found


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex (Go filepath.Match plus ``**``, as Docker does)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_rules(text: str) -> list[tuple[re.Pattern, bool]]:
    """``(pattern, excludes)`` in order: the last rule that matches a path decides."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = pattern.strip("/").removeprefix("./") or "."
        rules.append((_pattern_regex(pattern), not include))
    return rules


def excluded(rules: list[tuple[re.Pattern, bool]], path: str) -> bool:
    """Whether ``path`` (relative, with /) is left out of the build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for regex, excludes in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = excludes
    return verdict


def copy_sources(text: str) -> list[str]:
    """The build-context paths the Dockerfile copies (``COPY --from`` excluded)."""
    sources = []
    for instruction, args in parse(text):
        if instruction not in ("COPY", "ADD") or "--from=" in args:
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        sources += [w.removeprefix("./").rstrip("/") for w in words[:-1]]
    return sources
