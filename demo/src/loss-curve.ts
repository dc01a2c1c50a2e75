// The style run's live loss curve: bits per token of each step, drawn on a small canvas as the steps come in.
// The scaling is plain arithmetic (tested in test/demo/); drawing is the canvas's.

/** Where each step's value sits in a `width`×`height` plot area, and the value range the y axis spans. */
export interface CurveLayout {
  points: [number, number][];
  /** The y axis: `top` at the plot's top edge, `bottom` at its bottom edge. */
  top: number;
  bottom: number;
}

/**
 * Step i (1-based) of `steps` at x = (i − 1) / (steps − 1) of the width (one step: the middle), its value between
 * the smallest and the largest value shown (a flat curve gets ±5 % of its value, so it sits mid-height).
 */
export function curveLayout(values: readonly number[], steps: number, width: number, height: number): CurveLayout {
  if (values.length === 0) return { points: [], top: 1, bottom: 0 };
  let top = Math.max(...values);
  let bottom = Math.min(...values);
  if (top === bottom) {
    const margin = Math.abs(top) * 0.05 || 1;
    top += margin;
    bottom -= margin;
  }
  const span = Math.max(steps, values.length);
  const points = values.map((v, i): [number, number] => [
    span === 1 ? width / 2 : (i / (span - 1)) * width,
    ((top - v) / (top - bottom)) * height,
  ]);
  return { points, top, bottom };
}

/** A number of bits as the axis labels show it. */
export function formatBits(bits: number): string {
  return bits >= 10 ? bits.toFixed(1) : bits.toFixed(2);
}

/** The sentence a screen reader gets for the curve (and the page's tests read). */
export function curveText(values: readonly number[], steps: number): string {
  if (values.length === 0) return 'No steps yet.';
  const first = values[0];
  const last = values[values.length - 1];
  return `Bits per token, step 1: ${formatBits(first)}; step ${values.length} of ${steps}: ${formatBits(last)}.`;
}

const MARGIN = { left: 38, right: 8, top: 8, bottom: 18 };

/** Draws the curve of `values` (bits per token per step) for a run of `steps` on `canvas`, axis labels included. */
export function drawLossCurve(canvas: HTMLCanvasElement, values: readonly number[], steps: number): void {
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no 2D canvas context');
  const { width, height } = canvas;
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const style = getComputedStyle(canvas);
  const ink = style.color || '#222';
  context.clearRect(0, 0, width, height);
  context.font = '11px system-ui, sans-serif';
  context.fillStyle = ink;
  context.strokeStyle = ink;
  context.globalAlpha = 0.35;
  context.strokeRect(MARGIN.left + 0.5, MARGIN.top + 0.5, plotWidth, plotHeight);
  context.globalAlpha = 1;
  const layout = curveLayout(values, steps, plotWidth, plotHeight);
  context.textAlign = 'right';
  context.textBaseline = 'top';
  if (values.length) {
    context.fillText(formatBits(layout.top), MARGIN.left - 4, MARGIN.top);
    context.textBaseline = 'bottom';
    context.fillText(formatBits(layout.bottom), MARGIN.left - 4, MARGIN.top + plotHeight);
  }
  context.textAlign = 'left';
  context.textBaseline = 'bottom';
  context.fillText('step 1', MARGIN.left, height);
  context.textAlign = 'right';
  context.fillText(`${Math.max(steps, values.length)}`, width - MARGIN.right, height);
  if (!values.length) return;
  context.strokeStyle = style.getPropertyValue('--accent').trim() || '#3b5bdb';
  context.lineWidth = 2;
  context.beginPath();
  layout.points.forEach(([x, y], i) => (i ? context.lineTo(MARGIN.left + x, MARGIN.top + y) : context.moveTo(MARGIN.left + x, MARGIN.top + y)));
  context.stroke();
  context.fillStyle = context.strokeStyle;
  for (const [x, y] of layout.points) context.fillRect(MARGIN.left + x - 2, MARGIN.top + y - 2, 4, 4);
}
