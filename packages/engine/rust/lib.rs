//! kafka_backup.engine._native: the backup's per-record loop in Rust (PyO3). Python stays the control plane; this
//! module consumes from Kafka straight into Arrow record batches in the segment schema (the backup), and produces
//! from them (the restore).

mod allocator;
mod batch;
mod consumer;
mod events;
mod partitioner;
mod producer;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    kafka_backup.engine._native,
    KafkaClientError,
    PyException,
    "An error of librdkafka: `code` is its rd_kafka_err2name, `fatal` whether the client is unusable."
);

/// A KafkaClientError with its `code` and `fatal` attributes set.
pub(crate) fn kafka_error(code: &str, message: &str, fatal: bool) -> PyErr {
    Python::attach(|py| {
        let err = KafkaClientError::new_err(format!("{code}: {message}"));
        let value = err.value(py);
        let set = value.setattr("code", code).and_then(|_| value.setattr("fatal", fatal));
        match set {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<consumer::NativeConsumer>()?;
    m.add_class::<producer::NativeProducer>()?;
    m.add_function(wrap_pyfunction!(partitioner::partitions_for, m)?)?;
    m.add_function(wrap_pyfunction!(allocator::tune_allocator, m)?)?;
    m.add("KafkaClientError", m.py().get_type::<KafkaClientError>())?;
    Ok(())
}
