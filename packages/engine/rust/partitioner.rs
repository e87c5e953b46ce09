//! The restore's target partitions, computed like `kafka_backup.engine.kafka.partitioner` (the reference, kept for
//! the tests): Java's default partitioner for keyed records (`toPositive(Utils.murmur2(key)) % n`) and the stateless
//! spread `(source_partition + source_offset) % n` for records with a null key.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, GenericBinaryArray, Int32Array, OffsetSizeTrait};
use arrow_data::ArrayData;
use arrow_pyarrow::{PyArrowType, ToPyArrow};
use arrow_schema::DataType;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;

/// Java's `org.apache.kafka.common.utils.Utils.murmur2`: a signed 32-bit hash.
pub fn murmur2(data: &[u8]) -> i32 {
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Where the Java default partitioner puts a record with this (non-null) key.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % num_partitions
}

fn assign<O: OffsetSizeTrait>(
    keys: &GenericBinaryArray<O>,
    offsets: &arrow_array::Int64Array,
    source_partition: i64,
    n: i32,
) -> Int32Array {
    (0..keys.len())
        .map(|i| {
            Some(if keys.is_null(i) {
                (source_partition + offsets.value(i)).rem_euclid(n as i64) as i32
            } else {
                partition_for_key(keys.value(i), n)
            })
        })
        .collect()
}

/// Target partition (0..num_partitions) of every record: murmur2 of the key, the stateless spread for null keys.
/// `keys` binary or large_binary, `offsets` int64 (the source offsets), of the same length.
#[pyfunction]
pub fn partitions_for(
    py: Python<'_>,
    keys: PyArrowType<ArrayData>,
    offsets: PyArrowType<ArrayData>,
    source_partition: i64,
    num_partitions: i32,
) -> PyResult<Py<PyAny>> {
    if num_partitions <= 0 {
        return Err(PyValueError::new_err("num_partitions must be positive"));
    }
    let (keys, offsets) = (arrow_array::make_array(keys.0), arrow_array::make_array(offsets.0));
    if keys.len() != offsets.len() {
        return Err(PyValueError::new_err(format!(
            "{} keys but {} offsets",
            keys.len(),
            offsets.len()
        )));
    }
    if offsets.data_type() != &DataType::Int64 || offsets.null_count() > 0 {
        return Err(PyTypeError::new_err("offsets must be int64 without nulls"));
    }
    let out = py.detach(|| {
        let offsets = offsets.as_primitive::<Int64Type>();
        match keys.data_type() {
            DataType::Binary => Ok(assign(
                keys.as_binary::<i32>(),
                offsets,
                source_partition,
                num_partitions,
            )),
            DataType::LargeBinary => Ok(assign(
                keys.as_binary::<i64>(),
                offsets,
                source_partition,
                num_partitions,
            )),
            other => Err(format!("keys must be binary, not {other}")),
        }
    });
    let out = out.map_err(PyTypeError::new_err)?;
    Ok(out.to_data().to_pyarrow(py)?.unbind())
}
