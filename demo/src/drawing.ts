// A small paint canvas: round brush strokes on white, used as the image to complete.

export interface DrawingControls {
  color: HTMLInputElement;
  size: HTMLInputElement;
  clear: HTMLButtonElement;
  use: HTMLButtonElement;
  onUse: (canvas: HTMLCanvasElement) => void;
}

export function setupDrawing(canvas: HTMLCanvasElement, controls: DrawingControls): void {
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('no 2D canvas context');
  const clear = () => {
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  let last: { x: number; y: number } | null = null;
  const point = (e: PointerEvent) => {
    const box = canvas.getBoundingClientRect();
    return { x: ((e.clientX - box.left) / box.width) * canvas.width, y: ((e.clientY - box.top) / box.height) * canvas.height };
  };
  const stroke = (to: { x: number; y: number }) => {
    context.strokeStyle = controls.color.value;
    context.lineWidth = Number(controls.size.value);
    context.lineCap = 'round';
    context.lineJoin = 'round';
    context.beginPath();
    context.moveTo((last ?? to).x, (last ?? to).y);
    context.lineTo(to.x, to.y);
    context.stroke();
    last = to;
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = null;
    stroke(point(e));
  });
  canvas.addEventListener('pointermove', (e) => {
    if (last) stroke(point(e));
  });
  const end = () => {
    if (!last) return;
    last = null;
    controls.onUse(canvas);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  controls.clear.addEventListener('click', clear);
  controls.use.addEventListener('click', () => controls.onUse(canvas));
}
