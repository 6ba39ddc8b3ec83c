"""A training job's loss curve drawn on the server as SVG, so the page needs no chart
script: one polyline point per recorded step, the step range under it, the loss
range beside it. Pure Python; the output holds only numbers and fixed labels.
"""

import math
from collections.abc import Sequence

WIDTH, HEIGHT = 640, 240
# Room for the axis labels: left, top, right, bottom.
LEFT, TOP, RIGHT, BOTTOM = 56, 12, 12, 28


def loss_chart_svg(points: Sequence[tuple[int, float | None]]) -> str:
    """The curve of (step, loss) points in step order; steps whose loss was not
    finite (training diverged) are left out of the line."""
    finite = [(step, loss) for step, loss in points if loss is not None and math.isfinite(loss)]
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        ' role="img" aria-labelledby="loss-title">',
        '<title id="loss-title">Training loss per step</title>',
        # Presentation attributes, not a <style>: the CSP allows no inline style sheets.
        '<g font-family="system-ui, sans-serif" font-size="11" fill="#555">',
        f'<path d="M{LEFT},{TOP} V{TOP + plot_height} H{LEFT + plot_width}" fill="none" stroke="#999"/>',
    ]
    if not finite:
        middle = f'x="{LEFT + plot_width / 2}" y="{TOP + plot_height / 2}" text-anchor="middle"'
        parts.append(f"<text {middle}>no loss recorded yet</text>")
        return "".join(parts) + "</g></svg>"

    first_step, last_step = finite[0][0], finite[-1][0]
    low = min(loss for _, loss in finite)
    high = max(loss for _, loss in finite)

    def x(step: int) -> float:
        if last_step == first_step:
            return LEFT + plot_width / 2
        return LEFT + (step - first_step) / (last_step - first_step) * plot_width

    def y(loss: float) -> float:
        if high == low:
            return TOP + plot_height / 2
        return TOP + (high - loss) / (high - low) * plot_height

    coordinates = " ".join(f"{x(step):.1f},{y(loss):.1f}" for step, loss in finite)
    parts += [
        f'<polyline id="loss-line" points="{coordinates}" fill="none" stroke="#2563eb" stroke-width="1.5"'
        ' stroke-linejoin="round"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end">{_number(high)}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_height}" text-anchor="end">{_number(low)}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}">step {first_step}</text>',
        f'<text x="{LEFT + plot_width}" y="{HEIGHT - 8}" text-anchor="end">step {last_step}</text>',
    ]
    return "".join(parts) + "</g></svg>"


def _number(value: float) -> str:
    return f"{value:.4g}"
