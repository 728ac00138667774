"""A matplotlib backend that turns figures into image/png display outputs (Agg rendering).

matplotlib imports it by the name display.INLINE_BACKEND; nothing imports it before matplotlib is used.
"""

import base64
import io

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from .display import publish

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(block=None):
    """plt.show(): every open figure becomes a display output, then is closed."""
    for manager in Gcf.get_all_fig_managers():
        publish({"type": "display", "data": _figure_bundle(manager.canvas.figure), "metadata": {}})
    from matplotlib import pyplot  # not at import: pyplot is what imports this module

    pyplot.close("all")


def _figure_bundle(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"image/png": png, "text/plain": "<%s>" % type(figure).__name__}
