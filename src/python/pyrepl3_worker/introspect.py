"""What a notebook asks about code without running it: completion, inspection, completeness.

The host calls run() in a silent execution, so that completion and inspection see the session's
namespace; the reply comes back as the value's application/json bundle.
"""

import json
import re
import sys

# The dotted name that ends at the cursor ("os.pa" in "x = os.pa").
_NAME_BEFORE = re.compile(r"[A-Za-z_][\w.]*$|$")
_NAME_AFTER = re.compile(r"^\w*")


class Reply(dict):
    """A dict the worker sends back as application/json rather than as its repr."""

    def _repr_json_(self):
        return dict(self)


def run(request_json):
    request = json.loads(request_json)
    handler = _HANDLERS[request.pop("op")]
    return Reply(handler(**request))


def _namespace():
    return sys.modules["__main__"].__dict__


def complete(code, cursor_pos):
    before = code[:cursor_pos]
    token = _NAME_BEFORE.search(before).group()
    matches = _jedi_matches(code, cursor_pos)
    if matches is None:
        matches = _rlcompleter_matches(token)
    return {"status": "ok", "matches": matches, "cursor_start": cursor_pos - len(token),
            "cursor_end": cursor_pos, "metadata": {}}


def _jedi_matches(code, cursor_pos):
    """Completions from jedi when the session's Python has it; None when it does not."""
    try:
        import jedi
    except ImportError:
        return None
    before = code[:cursor_pos].split("\n")
    try:
        completions = jedi.Interpreter(code, [_namespace()]).complete(len(before), len(before[-1]))
    except Exception:  # jedi cannot parse every half-typed line
        return None
    token = _NAME_BEFORE.search(code[:cursor_pos]).group()
    prefix = token.rpartition(".")[0]
    return [(prefix + "." if prefix else "") + c.name for c in completions]


def _rlcompleter_matches(token):
    import rlcompleter

    completer = rlcompleter.Completer(_namespace())
    matches = []
    while True:
        match = completer.complete(token, len(matches))
        if match is None:
            return [m.rstrip("(") for m in matches]  # rlcompleter marks callables with "("
        matches.append(match)


def inspect(code, cursor_pos, detail_level=0):
    name = _name_at(code, cursor_pos)
    found, value = _resolve(name)
    if not found:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    return {"status": "ok", "found": True, "data": {"text/plain": _describe(name, value)}, "metadata": {}}


def _name_at(code, cursor_pos):
    """The dotted name under the cursor; inside a call's parentheses, the callee's."""
    before, after = code[:cursor_pos], code[cursor_pos:]
    name = _NAME_BEFORE.search(before).group() + _NAME_AFTER.match(after).group()
    if not name and before.rstrip().endswith("("):
        return _name_at(before.rstrip()[:-1], len(before.rstrip()) - 1)
    return name.strip(".")


def _resolve(name):
    """Look a dotted name up by attribute access only: inspecting never runs arbitrary code."""
    head, *rest = name.split(".") if name else [""]
    namespace = _namespace()
    builtins = namespace.get("__builtins__")
    builtins = builtins if isinstance(builtins, dict) else vars(builtins)
    if head in namespace:
        value = namespace[head]
    elif head in builtins:
        value = builtins[head]
    else:
        return False, None
    for attribute in rest:
        try:
            value = getattr(value, attribute)
        except Exception:
            return False, None
    return True, value


def _describe(name, value):
    import inspect as pyinspect

    lines = []
    try:
        lines.append("Signature: %s%s" % (name, pyinspect.signature(value)))
    except (TypeError, ValueError):
        pass
    lines.append("Type: %s" % type(value).__name__)
    doc = pyinspect.getdoc(value)
    if doc:
        lines.append("Docstring:\n%s" % doc)
    return "\n".join(lines)


def is_complete(code):
    import codeop

    try:
        compiled = codeop.compile_command(code, "<input>", "exec")
    except (SyntaxError, OverflowError, ValueError):
        return {"status": "invalid"}
    # As IPython: a block whose last line is indented may go on until a blank line ends it.
    in_block = code.rstrip("\n").split("\n")[-1][:1] in (" ", "\t") and not code.endswith("\n\n")
    if compiled is not None and not in_block:
        return {"status": "complete"}
    return {"status": "incomplete", "indent": _next_indent(code)}


def _next_indent(code):
    last = code.rstrip("\n").split("\n")[-1]
    indent = last[:len(last) - len(last.lstrip())]
    return indent + "    " if last.rstrip().endswith(":") else indent


def language_version():
    return {"version": "%d.%d.%d" % sys.version_info[:3]}


_HANDLERS = {"complete": complete, "inspect": inspect, "is_complete": is_complete,
             "language_version": language_version}
