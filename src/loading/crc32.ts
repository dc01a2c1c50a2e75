// CRC-32 (the zip/PNG polynomial), which every zip entry carries and the reader checks as bytes stream by.

let crcTables: Uint32Array | null = null;

/** CRC-32 (the zip/PNG polynomial), continuing from `crc` for data read in pieces. Eight bytes a step
 * (eight tables: each byte's effect shifted by its distance), so streaming gigabytes costs seconds, not minutes. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!crcTables) {
    crcTables = new Uint32Array(8 * 256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTables[n] = c >>> 0;
    }
    for (let t = 1; t < 8; t++) {
      for (let n = 0; n < 256; n++) {
        const prev = crcTables[(t - 1) * 256 + n];
        crcTables[t * 256 + n] = (prev >>> 8) ^ crcTables[prev & 0xff];
      }
    }
  }
  const T = crcTables;
  let c = ~crc;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const a = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const b = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      T[1792 + (a & 0xff)] ^
      T[1536 + ((a >>> 8) & 0xff)] ^
      T[1280 + ((a >>> 16) & 0xff)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + (b & 0xff)] ^
      T[512 + ((b >>> 8) & 0xff)] ^
      T[256 + ((b >>> 16) & 0xff)] ^
      T[b >>> 24];
  }
  for (; i < data.length; i++) c = T[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
