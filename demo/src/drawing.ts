// A small paint canvas: round brush strokes on white, used as the image to complete. Drawn with a pointer
// (mouse, pen, touch) or with the keyboard: the arrow keys move a visible cursor, Space puts the brush down
// (painting a dot) or lifts it, and moving with the brush down paints a line. Lifting the brush, like
// ending a pointer stroke, uses the drawing as the prompt.

export interface DrawingControls {
  color: HTMLInputElement;
  size: HTMLInputElement;
  clear: HTMLButtonElement;
  use: HTMLButtonElement;
  /** The keyboard cursor: an element over the canvas, positioned in CSS pixels of the canvas box. */
  cursor: HTMLElement;
  /** Says where the cursor is and whether the brush is down (an aria-live line). */
  status: HTMLElement;
  onUse: (canvas: HTMLCanvasElement) => void;
}

/** Canvas pixels a key press moves the cursor; with Shift, a bigger step. */
const STEP = 8;
const BIG_STEP = 32;

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
    if (last && !penDown) stroke(point(e));
  });
  const end = () => {
    if (!last || penDown) return;
    last = null;
    controls.onUse(canvas);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  controls.clear.addEventListener('click', clear);
  controls.use.addEventListener('click', () => controls.onUse(canvas));

  // ---- keyboard ----
  const cursor = { x: canvas.width / 2, y: canvas.height / 2 };
  let penDown = false;
  const place = () => {
    const scale = canvas.clientWidth / canvas.width || 1;
    const diameter = Math.max(Number(controls.size.value) * scale, 8);
    const style = controls.cursor.style;
    style.width = style.height = `${diameter}px`;
    style.left = `${canvas.offsetLeft + canvas.clientLeft + cursor.x * scale - diameter / 2}px`;
    style.top = `${canvas.offsetTop + canvas.clientTop + cursor.y * scale - diameter / 2}px`;
    controls.cursor.classList.toggle('down', penDown);
  };
  const say = () => {
    const x = Math.round((cursor.x / canvas.width) * 100);
    const y = Math.round((cursor.y / canvas.height) * 100);
    controls.status.textContent = `Cursor ${x} % from the left, ${y} % from the top; brush ${penDown ? 'down: moving paints' : 'up'}.`;
  };
  canvas.addEventListener('focus', () => {
    controls.cursor.hidden = false;
    place();
    say();
  });
  canvas.addEventListener('blur', () => {
    controls.cursor.hidden = true;
    if (penDown) {
      penDown = false;
      last = null;
      controls.onUse(canvas);
    }
  });
  canvas.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? BIG_STEP : STEP;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[e.key];
    if (move) {
      e.preventDefault();
      cursor.x = Math.min(Math.max(cursor.x + move[0], 0), canvas.width - 1);
      cursor.y = Math.min(Math.max(cursor.y + move[1], 0), canvas.height - 1);
      if (penDown) stroke({ ...cursor });
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      penDown = !penDown;
      if (penDown) {
        last = null;
        stroke({ ...cursor });
      } else {
        last = null;
        controls.onUse(canvas);
      }
    } else {
      return;
    }
    place();
    say();
  });
  controls.size.addEventListener('input', () => {
    if (!controls.cursor.hidden) place();
  });
}
