"""Model inspection: summary.txt, and a graph picture when pydot and graphviz are installed."""

import io
import shutil
from contextlib import redirect_stdout

import keras

from flexunet.fsutil import atomic_write_text, prepare_output_dir
from flexunet.model.files import GRAPH_PNG, SUMMARY_TXT


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=110)
    return "\n".join(lines) + f"\nTotal parameters: {model.count_params():,}\n"


def graph_note() -> str | None:
    """Why no graph picture can be drawn, or None when pydot and graphviz are available."""
    try:
        import pydot  # noqa: F401
    except ImportError:
        return "no model graph picture: the Python package pydot is not installed (pip install pydot)"
    if shutil.which("dot") is None:
        return "no model graph picture: graphviz's 'dot' program is not installed"
    return None


def inspect_model(model: keras.Model, out_dir: str, what: str = "inspection folder") -> dict:
    """Write summary.txt (and model.png when possible) to out_dir; return what was written."""
    out = prepare_output_dir(out_dir, what, keep=True)
    atomic_write_text(out / SUMMARY_TXT, summary_text(model))
    written = {"summary": out / SUMMARY_TXT}
    note = graph_note()
    if note is None:
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            keras.utils.plot_model(model, to_file=str(out / GRAPH_PNG), show_shapes=True)
        written["graph"] = out / GRAPH_PNG
    else:
        print(note)
    print(f"Wrote {', '.join(str(p) for p in written.values())} ({model.count_params():,} parameters)")
    return written
