//! NativeProducer: the restore's producer. Records are read straight from Arrow record batches in the segment schema
//! and queued with `rd_kafka_producev` (RD_KAFKA_MSG_F_COPY), one Python call per batch or chunk; delivery reports,
//! errors, statistics and log lines are read from librdkafka's main queue with the event API (no callbacks on
//! librdkafka's threads), the delivery reports kept here as the target offset of every row of every batch.
//!
//! Each queued record carries `(batch_id << 32) | row` as its opaque, so a delivery report finds its row without a
//! lookup. A batch is complete when every record queued for it was reported; `take` then hands out its offsets.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::RecordBatch;
use arrow_array::{Array, BinaryArray, Int32Array, Int64Array, ListArray, StringArray, StructArray};
use arrow_data::ArrayData;
use arrow_pyarrow::{PyArrowType, ToPyArrow};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use rdkafka_sys as rdsys;
use rdsys::rd_kafka_resp_err_t as Err;
use rdsys::rd_kafka_vtype_t::*;

use crate::events::{self, err_name, err_str, Event};
use crate::kafka_error;

/// A non-null pointer for empty keys and values: librdkafka keeps a zero-length value with a non-null pointer as
/// empty, and a null pointer as null.
static EMPTY: [u8; 1] = [0];

/// A bound on the events one serve() handles, so a drain returns under a steady stream of them.
const MAX_EVENTS_PER_SERVE: usize = 100_000;

/// The client and its main queue (destroyed in that order: the queue handle first).
struct Client {
    rk: *mut rdsys::rd_kafka_t,
    queue: *mut rdsys::rd_kafka_queue_t,
}

// librdkafka's handles are thread-safe.
unsafe impl Send for Client {}
unsafe impl Sync for Client {}

impl Drop for Client {
    fn drop(&mut self) {
        unsafe {
            rdsys::rd_kafka_queue_destroy(self.queue);
            rdsys::rd_kafka_destroy(self.rk);
        }
    }
}

/// Delivery state of one batch: the target offset of every row (-1 until reported, or skipped, or failed).
struct BatchState {
    offsets: Vec<i64>,
    queued: u64,
    reported: u64,
    failures: Vec<Failure>,
}

/// What one produce() call did.
struct Produced {
    next: usize,
    queued: u64,
    bytes: u64,
}

/// A failed delivery: (row, rd_kafka_err2name code, message).
type Failure = (u32, String, String);

/// The columns of a batch that produce() reads.
struct Columns<'a> {
    keys: &'a BinaryArray,
    values: &'a BinaryArray,
    timestamps: &'a Int64Array,
    headers: &'a ListArray,
    header_keys: &'a StringArray,
    header_values: &'a BinaryArray,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| PyValueError::new_err(format!("the batch has no column {name:?}")))
}

fn binary<'a>(array: &'a dyn Array, what: &str) -> PyResult<&'a BinaryArray> {
    array
        .as_binary_opt::<i32>()
        .ok_or_else(|| PyTypeError::new_err(format!("{what} must be binary, not {}", array.data_type())))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> PyResult<Self> {
        let timestamps = column(batch, "timestamp")?;
        let timestamps = timestamps
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| PyTypeError::new_err("timestamp must be int64"))?;
        let headers = column(batch, "headers")?;
        let headers = headers
            .as_list_opt::<i32>()
            .ok_or_else(|| PyTypeError::new_err("headers must be list<struct<key: string, value: binary>>"))?;
        let structs: &StructArray = headers
            .values()
            .as_struct_opt()
            .ok_or_else(|| PyTypeError::new_err("headers must be list<struct<key: string, value: binary>>"))?;
        if structs.num_columns() != 2 {
            return Err(PyTypeError::new_err(
                "headers must be list<struct<key: string, value: binary>>",
            ));
        }
        let header_keys = structs
            .column(0)
            .as_string_opt::<i32>()
            .ok_or_else(|| PyTypeError::new_err("header keys must be strings"))?;
        Ok(Columns {
            keys: binary(column(batch, "key")?, "key")?,
            values: binary(column(batch, "value")?, "value")?,
            timestamps,
            headers,
            header_keys,
            header_values: binary(structs.column(1).as_ref(), "header values")?,
        })
    }

    /// Pointer and length of a key or value for librdkafka: null for a null one, non-null for an empty one.
    fn bytes(array: &BinaryArray, i: usize) -> (*mut c_void, usize) {
        if array.is_null(i) {
            return (ptr::null_mut(), 0);
        }
        let v = array.value(i);
        if v.is_empty() {
            (EMPTY.as_ptr() as *mut c_void, 0)
        } else {
            (v.as_ptr() as *mut c_void, v.len())
        }
    }

    /// The row's headers as a librdkafka header list (null when it has none), in order, duplicates and null values
    /// kept. The caller owns the list until librdkafka accepted the record.
    fn headers(&self, i: usize) -> *mut rdsys::rd_kafka_headers_t {
        if self.headers.is_null(i) {
            return ptr::null_mut();
        }
        let offsets = self.headers.value_offsets();
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        if start == end {
            return ptr::null_mut();
        }
        unsafe {
            let hdrs = rdsys::rd_kafka_headers_new(end - start);
            for j in start..end {
                let name = if self.header_keys.is_null(j) {
                    ""
                } else {
                    self.header_keys.value(j)
                };
                let (value, size) = if self.header_values.is_null(j) {
                    (ptr::null(), 0)
                } else {
                    let v = self.header_values.value(j);
                    (v.as_ptr() as *const c_void, v.len())
                };
                rdsys::rd_kafka_header_add(
                    hdrs,
                    name.as_ptr() as *const c_char,
                    name.len() as isize,
                    value,
                    size as isize,
                );
            }
            hdrs
        }
    }
}

#[pyclass(module = "kafka_backup.engine._native")]
pub struct NativeProducer {
    client: RwLock<Option<Client>>,
    batches: Mutex<HashMap<u32, BatchState>>,
    /// Events served inside a produce() that then raised, handed out by the next poll() or flush().
    kept: Mutex<Vec<Event>>,
    queued: AtomicU64,
    reported: AtomicU64,
}

/// An error of a librdkafka call as KafkaClientError; a fatal producer's underlying error with `fatal` set.
fn produce_error(rk: *mut rdsys::rd_kafka_t, err: Err, context: &str) -> PyErr {
    if err == Err::RD_KAFKA_RESP_ERR__FATAL {
        let mut buf = [0 as c_char; 512];
        let code = unsafe { rdsys::rd_kafka_fatal_error(rk, buf.as_mut_ptr(), buf.len()) };
        let text = unsafe { events::cstr(buf.as_ptr()) };
        return kafka_error(&err_name(code), &format!("{context}: {text}"), true);
    }
    kafka_error(&err_name(err), &format!("{context}: {}", err_str(err)), false)
}

impl NativeProducer {
    fn with_client<T>(&self, f: impl FnOnce(&Client) -> PyResult<T>) -> PyResult<T> {
        let guard = self.client.read().expect("client lock");
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(PyRuntimeError::new_err("the producer is closed")),
        }
    }

    /// Serves the main queue until `done(self, events handled)` holds after an event, or `deadline` (with a
    /// deadline already passed: until the queue is empty). Delivery reports go into the batches; other events are
    /// appended to `out`.
    fn serve(&self, c: &Client, deadline: Instant, done: &dyn Fn(&Self, usize) -> bool, out: &mut Vec<Event>) {
        let mut handled = 0usize;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32;
            let ev = unsafe { rdsys::rd_kafka_queue_poll(c.queue, wait_ms) };
            if ev.is_null() {
                if wait_ms == 0 {
                    return;
                }
                continue;
            }
            unsafe {
                match rdsys::rd_kafka_event_type(ev) {
                    rdsys::RD_KAFKA_EVENT_DR => self.delivered(ev),
                    rdsys::RD_KAFKA_EVENT_ERROR => out.extend(events::error_event(c.rk, ev)),
                    rdsys::RD_KAFKA_EVENT_STATS => out.push(events::stats_event(ev)),
                    rdsys::RD_KAFKA_EVENT_LOG => out.extend(events::log_event(ev)),
                    _ => {}
                }
                rdsys::rd_kafka_event_destroy(ev);
            }
            handled += 1;
            if done(self, handled) || handled >= MAX_EVENTS_PER_SERVE {
                return;
            }
        }
    }

    /// Records a DR event's delivery reports in their batches.
    ///
    /// # Safety
    /// `ev` must be a valid DR event.
    unsafe fn delivered(&self, ev: *mut rdsys::rd_kafka_event_t) {
        let mut batches = self.batches.lock().expect("batches");
        let mut count = 0u64;
        loop {
            let msg = rdsys::rd_kafka_event_message_next(ev);
            if msg.is_null() {
                break;
            }
            count += 1;
            let m = &*msg;
            let opaque = m._private as usize as u64;
            let (batch_id, row) = ((opaque >> 32) as u32, (opaque & 0xffff_ffff) as u32);
            let Some(state) = batches.get_mut(&batch_id) else {
                continue;
            };
            state.reported += 1;
            if m.err == Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                if let Some(slot) = state.offsets.get_mut(row as usize) {
                    *slot = m.offset;
                }
            } else {
                state.failures.push((row, err_name(m.err), err_str(m.err)));
            }
        }
        self.reported.fetch_add(count, Ordering::Relaxed);
    }

    fn outstanding_now(&self) -> u64 {
        self.queued
            .load(Ordering::Relaxed)
            .saturating_sub(self.reported.load(Ordering::Relaxed))
    }

    /// Queues rows `start..end` (GIL released by the caller); see `produce`.
    #[allow(clippy::too_many_arguments)]
    fn queue_rows(
        &self,
        c: &Client,
        topic: &CString,
        cols: &Columns<'_>,
        partitions: &Int32Array,
        batch_id: u32,
        start: usize,
        end: usize,
        room_timeout: Duration,
        out: &mut Vec<Event>,
    ) -> Result<Produced, (Produced, Err)> {
        let mut done = Produced {
            next: start,
            queued: 0,
            bytes: 0,
        };
        let mut room_deadline: Option<Instant> = None;
        let mut unsynced = 0u64;
        let sync = |this: &Self, n: &mut u64| {
            if *n > 0 {
                if let Some(s) = this.batches.lock().expect("batches").get_mut(&batch_id) {
                    s.queued += *n;
                }
                *n = 0;
            }
        };
        let mut i = start;
        while i < end {
            if partitions.is_null(i) || partitions.value(i) < 0 {
                i += 1;
                done.next = i;
                continue;
            }
            let (key, key_len) = Columns::bytes(cols.keys, i);
            let (value, value_len) = Columns::bytes(cols.values, i);
            let ts = if cols.timestamps.is_null(i) {
                0
            } else {
                cols.timestamps.value(i).max(0)
            };
            let hdrs = cols.headers(i);
            let opaque = (((batch_id as u64) << 32) | i as u64) as usize as *mut c_void;
            // counted before librdkafka can report it (another thread may serve the queue)
            self.queued.fetch_add(1, Ordering::Relaxed);
            let err = unsafe {
                rdsys::rd_kafka_producev(
                    c.rk,
                    RD_KAFKA_VTYPE_TOPIC,
                    topic.as_ptr(),
                    RD_KAFKA_VTYPE_PARTITION,
                    partitions.value(i),
                    RD_KAFKA_VTYPE_MSGFLAGS,
                    rdsys::RD_KAFKA_MSG_F_COPY,
                    RD_KAFKA_VTYPE_VALUE,
                    value,
                    value_len,
                    RD_KAFKA_VTYPE_KEY,
                    key,
                    key_len,
                    RD_KAFKA_VTYPE_OPAQUE,
                    opaque,
                    RD_KAFKA_VTYPE_TIMESTAMP,
                    ts,
                    RD_KAFKA_VTYPE_HEADERS,
                    hdrs,
                    RD_KAFKA_VTYPE_END,
                )
            };
            if err == Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                unsynced += 1;
                done.queued += 1;
                done.bytes += (key_len + value_len) as u64;
                i += 1;
                done.next = i;
                continue;
            }
            self.queued.fetch_sub(1, Ordering::Relaxed);
            if !hdrs.is_null() {
                unsafe { rdsys::rd_kafka_headers_destroy(hdrs) };
            }
            if err != Err::RD_KAFKA_RESP_ERR__QUEUE_FULL {
                sync(self, &mut unsynced);
                return Err((done, err));
            }
            // the queue is full: serve delivery reports (they free room) until there is room or the wait is over
            sync(self, &mut unsynced);
            let now = Instant::now();
            let until = *room_deadline.get_or_insert(now + room_timeout);
            if now >= until {
                break;
            }
            let step = (now + Duration::from_millis(50)).min(until);
            let before = self.reported.load(Ordering::Relaxed);
            self.serve(c, step, &|p: &Self, _| p.reported.load(Ordering::Relaxed) > before, out);
        }
        sync(self, &mut unsynced);
        Ok(done)
    }
}

fn events_to_py<'py>(py: Python<'py>, evs: &[Event]) -> PyResult<Bound<'py, PyList>> {
    let out: Vec<Bound<'py, PyTuple>> = evs.iter().map(|e| e.to_py(py)).collect::<PyResult<_>>()?;
    PyList::new(py, out)
}

#[pymethods]
impl NativeProducer {
    /// A producer from librdkafka properties (strings), applied as given (the caller forces idempotence). Delivery
    /// reports, errors, statistics and log lines are events of this producer's main queue, never printed.
    #[new]
    fn new(conf: HashMap<String, String>) -> PyResult<Self> {
        let mut errstr = [0 as c_char; 512];
        let mut log_level: Option<i32> = None;
        let raw = unsafe { rdsys::rd_kafka_conf_new() };
        let set = |k: &str, v: &str, errstr: &mut [c_char; 512]| -> PyResult<()> {
            let (ck, cv) = match (CString::new(k), CString::new(v)) {
                (Ok(ck), Ok(cv)) => (ck, cv),
                _ => return Err(PyValueError::new_err(format!("setting {k:?} contains NUL"))),
            };
            let res =
                unsafe { rdsys::rd_kafka_conf_set(raw, ck.as_ptr(), cv.as_ptr(), errstr.as_mut_ptr(), errstr.len()) };
            if res != rdsys::rd_kafka_conf_res_t::RD_KAFKA_CONF_OK {
                let text = unsafe { events::cstr(errstr.as_ptr()) };
                return Err(kafka_error("_INVALID_ARG", &text, false));
            }
            Ok(())
        };
        let mut applied = Ok(());
        for (k, v) in &conf {
            if k == "log_level" {
                match v.parse() {
                    Ok(level) => log_level = Some(level),
                    Err(_) => applied = Err(PyValueError::new_err(format!("log_level {v:?}: not an int"))),
                }
            } else {
                applied = set(k, v, &mut errstr);
            }
            if applied.is_err() {
                break;
            }
        }
        let applied = applied.and_then(|_| set("log.queue", "true", &mut errstr));
        if let Err(e) = applied {
            unsafe { rdsys::rd_kafka_conf_destroy(raw) };
            return Err(e);
        }
        unsafe {
            rdsys::rd_kafka_conf_set_events(
                raw,
                rdsys::RD_KAFKA_EVENT_DR
                    | rdsys::RD_KAFKA_EVENT_ERROR
                    | rdsys::RD_KAFKA_EVENT_STATS
                    | rdsys::RD_KAFKA_EVENT_LOG,
            )
        };
        let rk = unsafe {
            rdsys::rd_kafka_new(
                rdsys::rd_kafka_type_t::RD_KAFKA_PRODUCER,
                raw,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if rk.is_null() {
            unsafe { rdsys::rd_kafka_conf_destroy(raw) };
            let text = unsafe { events::cstr(errstr.as_ptr()) };
            return Err(kafka_error(
                "_INVALID_ARG",
                &format!("cannot create the producer: {text}"),
                false,
            ));
        }
        let queue = unsafe {
            rdsys::rd_kafka_set_log_queue(rk, ptr::null_mut());
            rdsys::rd_kafka_set_log_level(rk, log_level.unwrap_or(6));
            rdsys::rd_kafka_queue_get_main(rk)
        };
        Ok(NativeProducer {
            client: RwLock::new(Some(Client { rk, queue })),
            batches: Mutex::new(HashMap::new()),
            kept: Mutex::new(Vec::new()),
            queued: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        })
    }

    /// Queues rows `start..start+max_records` of `records` (segment schema: key, value, timestamp, headers) to
    /// `topic`, each to its `partitions[i]` (int32; -1 or null: skip the row), in row order, with the GIL released.
    /// Null and empty keys and values stay apart; a timestamp <= 0 lets the producer stamp the time; headers keep
    /// their order, duplicates and null values. When librdkafka's queue is full, serves delivery reports for up to
    /// `room_timeout_s` waiting for room, then returns. Returns (next row not handled yet, records queued, key and
    /// value bytes queued, the events served meanwhile). Raises KafkaClientError for a record librdkafka refuses
    /// (e.g. MSG_SIZE_TOO_LARGE, _UNKNOWN_PARTITION, a fatal producer's underlying error with `fatal` set).
    #[allow(clippy::too_many_arguments)]
    fn produce<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        records: PyArrowType<RecordBatch>,
        partitions: PyArrowType<ArrayData>,
        batch_id: u32,
        start: usize,
        max_records: usize,
        room_timeout_s: f64,
    ) -> PyResult<(usize, u64, u64, Bound<'py, PyList>)> {
        let batch = records.0;
        let partitions = arrow_array::make_array(partitions.0);
        let partitions = partitions
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| PyTypeError::new_err("partitions must be int32"))?
            .clone();
        let n = batch.num_rows();
        if partitions.len() != n {
            return Err(PyValueError::new_err(format!(
                "{} partitions for {n} rows",
                partitions.len()
            )));
        }
        let cols = Columns::of(&batch)?;
        let topic_c = CString::new(topic).map_err(|_| PyValueError::new_err("topic contains NUL"))?;
        {
            let mut batches = self.batches.lock().expect("batches");
            let state = batches.entry(batch_id).or_insert_with(|| BatchState {
                offsets: vec![-1; n],
                queued: 0,
                reported: 0,
                failures: Vec::new(),
            });
            if state.offsets.len() != n {
                return Err(PyValueError::new_err(format!(
                    "batch {batch_id} had {} rows, now {n}",
                    state.offsets.len()
                )));
            }
        }
        let start = start.min(n);
        let end = start.saturating_add(max_records).min(n);
        let room = Duration::from_secs_f64(room_timeout_s.max(0.0));
        self.with_client(|c| {
            let mut evs = Vec::new();
            let result =
                py.detach(|| self.queue_rows(c, &topic_c, &cols, &partitions, batch_id, start, end, room, &mut evs));
            match result {
                Ok(done) => Ok((done.next, done.queued, done.bytes, events_to_py(py, &evs)?)),
                Err((done, err)) => {
                    self.kept.lock().expect("kept").extend(evs);
                    Err(produce_error(
                        c.rk,
                        err,
                        &format!("produce to {topic}[{}]", partitions.value(done.next)),
                    ))
                }
            }
        })
    }

    /// Serves the producer's events for up to `timeout_s` (returning once something arrived and the queue is
    /// drained): delivery reports are kept for take(); errors, statistics and log lines are returned.
    fn poll<'py>(&self, py: Python<'py>, timeout_s: f64) -> PyResult<Bound<'py, PyList>> {
        let mut evs = std::mem::take(&mut *self.kept.lock().expect("kept"));
        self.with_client(|c| {
            let deadline = Instant::now() + Duration::from_secs_f64(timeout_s.max(0.0));
            py.detach(|| {
                // wait for the first event, then drain what is queued without waiting
                self.serve(c, deadline, &|_, handled| handled > 0, &mut evs);
                self.serve(c, Instant::now(), &|_, _| false, &mut evs);
            });
            events_to_py(py, &evs)
        })
    }

    /// Serves events (GIL released) until every queued record was reported or `timeout_s` passed; returns the
    /// events other than delivery reports.
    fn flush<'py>(&self, py: Python<'py>, timeout_s: f64) -> PyResult<Bound<'py, PyList>> {
        let mut evs = std::mem::take(&mut *self.kept.lock().expect("kept"));
        self.with_client(|c| {
            let deadline = Instant::now() + Duration::from_secs_f64(timeout_s.max(0.0));
            py.detach(|| {
                while self.outstanding_now() > 0 && Instant::now() < deadline {
                    let step = (Instant::now() + Duration::from_millis(100)).min(deadline);
                    self.serve(c, step, &|p: &Self, _| p.outstanding_now() == 0, &mut evs);
                }
                // what is queued besides (statistics, errors) without waiting
                self.serve(c, Instant::now(), &|_, _| false, &mut evs);
            });
            events_to_py(py, &evs)
        })
    }

    /// Records queued whose delivery was not reported yet.
    fn outstanding(&self) -> u64 {
        self.outstanding_now()
    }

    /// Delivery reports received so far (all batches): progress for a caller's stall bound.
    fn reported(&self) -> u64 {
        self.reported.load(Ordering::Relaxed)
    }

    /// The target offset of every row of batch `batch_id` (int64; -1 for rows skipped or whose delivery failed) and
    /// its failures as (row, code_name, message), once every record queued for it was reported; the batch is
    /// forgotten. Raises RuntimeError while reports are missing (the batch is kept).
    fn take<'py>(&self, py: Python<'py>, batch_id: u32) -> PyResult<(Bound<'py, PyAny>, Vec<Failure>)> {
        let state = {
            let mut batches = self.batches.lock().expect("batches");
            match batches.get(&batch_id) {
                None => return Err(PyValueError::new_err(format!("no batch {batch_id}"))),
                Some(s) if s.reported < s.queued => {
                    return Err(PyRuntimeError::new_err(format!(
                        "batch {batch_id}: {} of {} records not reported yet",
                        s.queued - s.reported,
                        s.queued
                    )))
                }
                Some(_) => batches.remove(&batch_id).expect("batch"),
            }
        };
        let offsets = Int64Array::from(state.offsets);
        Ok((offsets.to_data().to_pyarrow(py)?, state.failures))
    }

    /// Drops what is still queued (reported as failed, _PURGE_QUEUE / _PURGE_INFLIGHT), then destroys the client.
    /// Call flush() first to deliver. Idempotent.
    fn close(&self, py: Python<'_>) {
        let client = self.client.write().expect("client lock").take();
        if let Some(c) = client {
            py.detach(move || {
                unsafe {
                    rdsys::rd_kafka_purge(c.rk, rdsys::RD_KAFKA_PURGE_F_QUEUE | rdsys::RD_KAFKA_PURGE_F_INFLIGHT);
                }
                let mut evs = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(1);
                self.serve(&c, deadline, &|p: &Self, _| p.outstanding_now() == 0, &mut evs);
                drop(c);
            });
        }
    }
}
