"""An audio artifact's waveform drawn on the server as SVG, as the loss curve is
(web/loss_chart.py): for each of COLUMNS slices of the samples, a vertical line
from its lowest to its highest sample, the duration under it. Pure Python and
numpy; the output holds only numbers and fixed labels.
"""

import numpy as np

WIDTH, HEIGHT = 640, 120
# Room for the time labels under the plot.
TOP, BOTTOM = 8, 22
COLUMNS = 320
FULL_SCALE = 32768  # 16-bit samples


def waveform_svg(samples: np.ndarray, sample_rate: int) -> str:
    """The waveform of 16-bit samples at this sample rate."""
    plot_height = HEIGHT - TOP - BOTTOM
    middle = TOP + plot_height / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        ' role="img" aria-labelledby="waveform-title">',
        '<title id="waveform-title">Waveform</title>',
        # Presentation attributes, not a <style>: the CSP allows no inline style sheets.
        '<g font-family="system-ui, sans-serif" font-size="11" fill="#555">',
        f'<path d="M0,{middle} H{WIDTH}" stroke="#ddd"/>',
    ]
    if len(samples):
        slices = np.array_split(samples.astype(np.int32), min(COLUMNS, len(samples)))
        step = WIDTH / len(slices)
        lines = []
        for column, part in enumerate(slices):
            x = (column + 0.5) * step
            high = middle - part.max() / FULL_SCALE * plot_height / 2
            low = middle - part.min() / FULL_SCALE * plot_height / 2
            # At least a pixel tall, so silence still shows as a line.
            lines.append(f"M{x:.1f},{min(high, middle - 0.5):.1f}V{max(low, middle + 0.5):.1f}")
        parts.append(f'<path id="waveform" d="{"".join(lines)}" stroke="#2563eb" stroke-width="{step * 0.8:.2f}"/>')
    duration = len(samples) / sample_rate
    parts += [
        f'<text x="0" y="{HEIGHT - 6}">0 s</text>',
        f'<text x="{WIDTH}" y="{HEIGHT - 6}" text-anchor="end">{duration:.2f} s</text>',
    ]
    return "".join(parts) + "</g></svg>"
