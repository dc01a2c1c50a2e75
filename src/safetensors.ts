// safetensors, read and written (https://github.com/huggingface/safetensors): this module gathers the parts
// for the rest of the library and weights-tools. The format and its checks: ./safetensors-format; the header
// reader: ./safetensors-header; tensors read and decoded to float32: ./safetensors-read; the writer:
// ./safetensors-write.
export {
  MAX_SAFETENSORS_HEADER_BYTES,
  SAFETENSORS_DTYPE_BITS,
  SAFETENSORS_DTYPE_BYTES,
  SAFETENSORS_FLOAT_DTYPES,
  isSafetensorsDType,
  safetensorsByteLength,
} from './safetensors-format';
export type { SafetensorsDType, SafetensorsFile, SafetensorsHeader, SafetensorsTensor, SafetensorsTensorInfo } from './safetensors-format';
export { readSafetensorsHeader, safetensorsHeaderBytes } from './safetensors-header';
export { decodeFloat32, parseSafetensors, tensorToFloat32 } from './safetensors-read';
export { planSafetensors, writeSafetensors } from './safetensors-write';
export type { SafetensorsEntry, SafetensorsPlan } from './safetensors-write';
