/**
 * Data types. Every dtype is stored in 4-byte words on both backends (bool as 0/1 in a u32),
 * so a buffer's byte size is always 4 × its element count and WGSL can read every dtype.
 */
import { WgradError } from './errors.js';

/** The element types of a tensor (bool is stored as 0/1). */
export type DType = 'float32' | 'int32' | 'uint32' | 'bool';
export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32', 'bool'];

/** The typed array a dtype is stored in (bool is stored as 0/1 in a Uint32Array). */
export type StorageArray<D extends DType = DType> = D extends 'float32'
  ? Float32Array
  : D extends 'int32'
    ? Int32Array
    : Uint32Array;
export type AnyStorageArray = Float32Array | Int32Array | Uint32Array;

export const BYTES_PER_ELEMENT = 4;

/** The largest finite float32, 2^128 − 2^104 (shared by the checks that a JS number fits a float32 tensor). */
export const FLOAT32_MAX = 3.4028234663852886e38;

export function storageArray(dtype: DType, length: number): AnyStorageArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'int32': return new Int32Array(length);
    case 'uint32': case 'bool': return new Uint32Array(length);
  }
}

/** The WGSL scalar type a dtype is stored as. */
export function wgslType(dtype: DType): 'f32' | 'i32' | 'u32' {
  return dtype === 'float32' ? 'f32' : dtype === 'int32' ? 'i32' : 'u32';
}

export const isFloat = (d: DType) => d === 'float32';
export const isInt = (d: DType) => d === 'int32' || d === 'uint32';

/** Checks a dtype argument (e.g. 'float64' is not one): raises a WgradError naming `op`. */
export function checkDType(op: string, dtype: unknown): DType {
  if (!(DTYPES as readonly unknown[]).includes(dtype)) {
    throw new WgradError(op, `unsupported dtype ${typeof dtype === 'string' ? JSON.stringify(dtype) : String(dtype)}: expected one of ${DTYPES.join(', ')}`);
  }
  return dtype as DType;
}
