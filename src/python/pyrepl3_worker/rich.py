"""Rich results in the Jupyter convention: a mime bundle for a cell's value."""

import json

# Jupyter-style rich representations, in addition to _repr_mimebundle_.
_RICH_REPRS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
)
# Objects answering every attribute (mocks, proxies) would fake rich reprs;
# IPython detects them by asking for an attribute nobody defines.
_CANARY_ATTRIBUTE = "_ipython_canary_method_should_not_exist_"


def mime_bundle(value, text):
    """Jupyter-style mime bundle; a failing _repr_*_ method is just skipped."""
    bundle = {}
    # Builtin types have no rich reprs: keep the common case cheap.
    if type(value).__module__ != "builtins" and _lookup(value, _CANARY_ATTRIBUTE) is None:
        bundle.update(_rich_bundle(value))
    bundle["text/plain"] = text
    return bundle


def _rich_bundle(value):
    bundle = {}
    offered = _call_repr(value, "_repr_mimebundle_", include=None, exclude=None)
    if isinstance(offered, tuple):  # (data, metadata)
        offered = offered[0]
    if isinstance(offered, dict):
        for mime, content in offered.items():
            content = _json_content(content)
            if isinstance(mime, str) and content is not None:
                bundle[mime] = content
    for method, mime in _RICH_REPRS:
        if mime not in bundle:
            content = _json_content(_call_repr(value, method))
            if content is not None:
                bundle[mime] = content
    return bundle


def _lookup(value, name):
    try:
        return getattr(value, name, None)
    except Exception:  # a property or __getattr__ that raises
        return None


def _call_repr(value, name, **kwargs):
    method = _lookup(value, name)
    if not callable(method):
        return None
    try:
        return method(**kwargs)
    except Exception:
        return None


def _json_content(content):
    """Make one bundle entry JSON-safe: bytes become base64, the rest must serialise."""
    if isinstance(content, tuple):  # (data, metadata)
        content = content[0] if content else None
    if isinstance(content, (bytes, bytearray)):
        import base64  # only images need it

        return base64.b64encode(content).decode("ascii")
    if content is None or isinstance(content, str):
        return content
    try:
        json.dumps(content)
    except Exception:
        return None
    return content
