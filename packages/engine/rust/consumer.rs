//! NativeConsumer: a group consumer whose poll loop runs on librdkafka's consumer queue with the event API, so
//! records become Arrow batches per partition without a Python object per record and partition EOFs keep their
//! topic and offset. rust-rdkafka creates the client and subscribes; the calls whose errors Python must see by
//! librdkafka's code name (assign, seek, pause, commit) go to librdkafka directly.

use std::collections::HashMap;
use std::ffi::CString;
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_pyarrow::ToPyArrow;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::TopicPartitionList;
use rdkafka_sys as rdsys;
use rdsys::rd_kafka_resp_err_t as Err;

use crate::batch::Batches;
use crate::events::{self, err_name, Event};
use crate::kafka_error;

type Tp = (String, i32);

/// librdkafka's consumer queue handle, owned (destroyed on drop, before the client).
struct Queue(*mut rdsys::rd_kafka_queue_t);

// librdkafka's queues are thread-safe.
unsafe impl Send for Queue {}
unsafe impl Sync for Queue {}

impl Drop for Queue {
    fn drop(&mut self) {
        unsafe { rdsys::rd_kafka_queue_destroy(self.0) }
    }
}

/// An event taken off the queue, destroyed on drop.
struct OwnedEvent(*mut rdsys::rd_kafka_event_t);

unsafe impl Send for OwnedEvent {}

impl Drop for OwnedEvent {
    fn drop(&mut self) {
        unsafe { rdsys::rd_kafka_event_destroy(self.0) }
    }
}

/// What one consume() call has gathered so far.
#[derive(Default)]
struct Gathered {
    batches: Batches,
    events: Vec<Event>,
}

impl Gathered {
    fn is_empty(&self) -> bool {
        self.batches.records == 0 && self.events.is_empty()
    }
}

enum Step {
    Done,
    Rebalance(OwnedEvent),
}

#[pyclass(module = "kafka_backup.engine._native")]
pub struct NativeConsumer {
    // field order is drop order: the queue handle goes before the client
    queue: Queue,
    consumer: BaseConsumer,
    handler: Mutex<Option<Py<PyAny>>>,
    pending: Mutex<Option<PyErr>>,
    closed: Mutex<bool>,
}

fn rk_error(err: Err, context: &str) -> PyErr {
    kafka_error(&err_name(err), &format!("{context}: {}", events::err_str(err)), false)
}

/// # Safety
/// `error` must be null or an error object of librdkafka (it is destroyed here).
unsafe fn rk_error_obj(error: *mut rdsys::rd_kafka_error_t, context: &str) -> PyResult<()> {
    if error.is_null() {
        return Ok(());
    }
    let code = err_name(rdsys::rd_kafka_error_code(error));
    let text = events::cstr(rdsys::rd_kafka_error_string(error));
    let fatal = rdsys::rd_kafka_error_is_fatal(error) != 0;
    rdsys::rd_kafka_error_destroy(error);
    Err(kafka_error(&code, &format!("{context}: {text}"), fatal))
}

fn tpl_of(partitions: &[Tp]) -> PyResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        tpl.add_partition(topic, *partition);
    }
    Ok(tpl)
}

fn tpl_with_offsets(offsets: &[(Tp, i64)]) -> PyResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for ((topic, partition), offset) in offsets {
        tpl.add_partition_offset(topic, *partition, rdkafka::Offset::from_raw(*offset))
            .map_err(|e| PyValueError::new_err(format!("offset {offset} of {topic}[{partition}]: {e}")))?;
    }
    Ok(tpl)
}

impl NativeConsumer {
    fn rk(&self) -> *mut rdsys::rd_kafka_t {
        self.consumer.client().native_ptr()
    }

    fn check_open(&self) -> PyResult<()> {
        if *self.closed.lock().expect("closed flag") {
            Err(PyRuntimeError::new_err("the consumer is closed"))
        } else {
            Ok(())
        }
    }

    /// Polls (GIL released) until `max_records` records are gathered, the queue is empty after something was
    /// gathered, `deadline` passed with nothing gathered, or a rebalance needs the handler.
    fn poll(&self, got: &mut Gathered, max_records: usize, deadline: Instant) -> Step {
        loop {
            if got.batches.records >= max_records {
                return Step::Done;
            }
            let wait = if got.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32;
            let ev = unsafe { rdsys::rd_kafka_queue_poll(self.queue.0, wait_ms) };
            if ev.is_null() {
                if wait_ms == 0 || !got.is_empty() || Instant::now() >= deadline {
                    return Step::Done;
                }
                continue;
            }
            let ev = OwnedEvent(ev);
            unsafe {
                match rdsys::rd_kafka_event_type(ev.0) {
                    rdsys::RD_KAFKA_EVENT_FETCH => loop {
                        let msg = rdsys::rd_kafka_event_message_next(ev.0);
                        if msg.is_null() {
                            break;
                        }
                        if (*msg).err == Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                            got.batches.append(msg);
                        } else {
                            got.events.push(events::message_error_event(msg));
                        }
                    },
                    rdsys::RD_KAFKA_EVENT_ERROR => got.events.extend(events::error_event(self.rk(), ev.0)),
                    rdsys::RD_KAFKA_EVENT_REBALANCE => return Step::Rebalance(ev),
                    rdsys::RD_KAFKA_EVENT_OFFSET_COMMIT => got.events.push(events::commit_event(ev.0)),
                    rdsys::RD_KAFKA_EVENT_STATS => got.events.push(events::stats_event(ev.0)),
                    rdsys::RD_KAFKA_EVENT_LOG => got.events.extend(events::log_event(ev.0)),
                    _ => {}
                }
            }
        }
    }

    /// Serves a rebalance event with the GIL: the handler first, then the (incremental) assign or unassign.
    fn rebalance(&self, py: Python<'_>, ev: &OwnedEvent) -> PyResult<()> {
        let handler = self.handler.lock().expect("handler").as_ref().map(|h| h.clone_ref(py));
        let rk = self.rk();
        let (err, tpl, cooperative) = unsafe {
            let proto = events::cstr(rdsys::rd_kafka_rebalance_protocol(rk));
            (
                rdsys::rd_kafka_event_error(ev.0),
                rdsys::rd_kafka_event_topic_partition_list(ev.0),
                proto == "COOPERATIVE",
            )
        };
        let keys = unsafe { events::tpl_keys(tpl) };
        match err {
            Err::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut positions: Vec<(Tp, i64)> = Vec::new();
                let mut paused: Vec<Tp> = Vec::new();
                if let Some(h) = handler {
                    let result = h
                        .bind(py)
                        .call_method1("assigned", (keys.clone(),))
                        .and_then(|r| r.extract::<(HashMap<Tp, i64>, Vec<Tp>)>());
                    match result {
                        Ok((pos, pau)) => {
                            positions = pos.into_iter().collect();
                            paused = pau;
                        }
                        Err(e) => self.keep(e),
                    }
                } else {
                    positions = keys
                        .iter()
                        .map(|k| (k.clone(), rdsys::RD_KAFKA_OFFSET_INVALID as i64))
                        .collect();
                }
                let assign = tpl_with_offsets(&positions)?;
                let result = unsafe {
                    if cooperative {
                        rk_error_obj(
                            rdsys::rd_kafka_incremental_assign(rk, assign.ptr()),
                            "incremental_assign",
                        )
                    } else {
                        let e = rdsys::rd_kafka_assign(rk, assign.ptr());
                        if e == Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                            Ok(())
                        } else {
                            Err(rk_error(e, "assign"))
                        }
                    }
                };
                result?;
                if !paused.is_empty() {
                    self.pause_tps(&paused)?;
                }
            }
            Err::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Some(h) = handler {
                    let lost = unsafe { rdsys::rd_kafka_assignment_lost(rk) } != 0;
                    if let Err(e) = h
                        .bind(py)
                        .call_method1(if lost { "lost" } else { "revoked" }, (keys.clone(),))
                    {
                        self.keep(e);
                    }
                }
                unsafe {
                    if cooperative {
                        if !keys.is_empty() {
                            rk_error_obj(rdsys::rd_kafka_incremental_unassign(rk, tpl), "incremental_unassign")?;
                        }
                    } else {
                        let e = rdsys::rd_kafka_assign(rk, ptr::null());
                        if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                            return Err(rk_error(e, "unassign"));
                        }
                    }
                }
            }
            other => {
                let e = unsafe { rdsys::rd_kafka_assign(rk, ptr::null()) };
                if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Err(rk_error(
                        e,
                        &format!("unassign after rebalance error {}", err_name(other)),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Keeps the first exception of a handler for the next consume().
    fn keep(&self, e: PyErr) {
        let mut pending = self.pending.lock().expect("pending");
        if pending.is_none() {
            *pending = Some(e);
        }
    }

    fn has_pending(&self) -> bool {
        self.pending.lock().expect("pending").is_some()
    }

    fn pause_tps(&self, partitions: &[Tp]) -> PyResult<()> {
        let tpl = tpl_of(partitions)?;
        let e = unsafe { rdsys::rd_kafka_pause_partitions(self.rk(), tpl.ptr()) };
        if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(rk_error(e, "pause"));
        }
        Ok(())
    }
}

#[pymethods]
impl NativeConsumer {
    /// A group consumer from librdkafka properties (strings); `group.id` is required. librdkafka's log lines are
    /// delivered as "log" events of consume(), never printed.
    #[new]
    fn new(conf: HashMap<String, String>) -> PyResult<Self> {
        if !conf.contains_key("group.id") {
            return Err(PyValueError::new_err("NativeConsumer needs group.id"));
        }
        let mut config = ClientConfig::new();
        let mut log_level: Option<i32> = None;
        for (k, v) in &conf {
            if k == "log_level" {
                log_level = Some(
                    v.parse()
                        .map_err(|_| PyValueError::new_err(format!("log_level {v:?}: not an int")))?,
                );
                continue;
            }
            config.set(k, v);
        }
        config.set("log.queue", "true");
        let consumer: BaseConsumer = config
            .create()
            .map_err(|e| kafka_error("_INVALID_ARG", &format!("cannot create the consumer: {e}"), false))?;
        let rk = consumer.client().native_ptr();
        let queue = unsafe {
            // log lines go to the main queue, which BaseConsumer forwarded to the consumer queue
            rdsys::rd_kafka_set_log_queue(rk, ptr::null_mut());
            rdsys::rd_kafka_set_log_level(rk, log_level.unwrap_or(6));
            Queue(rdsys::rd_kafka_queue_get_consumer(rk))
        };
        if queue.0.is_null() {
            return Err(kafka_error("_INVALID_ARG", "no consumer queue", false));
        }
        Ok(NativeConsumer {
            queue,
            consumer,
            handler: Mutex::new(None),
            pending: Mutex::new(None),
            closed: Mutex::new(false),
        })
    }

    /// Subscribes to `topics`; `handler`'s assigned/revoked/lost are called inside consume() (see _native.pyi).
    fn subscribe(&self, py: Python<'_>, topics: Vec<String>, handler: Py<PyAny>) -> PyResult<()> {
        self.check_open()?;
        *self.handler.lock().expect("handler") = Some(handler.clone_ref(py));
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&names)
            .map_err(|e| kafka_error("_INVALID_ARG", &format!("subscribe: {e}"), false))
    }

    /// Records per partition as pyarrow RecordBatches in the segment schema, then the events that followed them.
    /// Returns what is queued at once; with nothing queued waits up to `timeout_s` for the first record or event.
    /// Re-raises a handler's exception kept by an earlier call.
    fn consume<'py>(
        &self,
        py: Python<'py>,
        max_records: usize,
        timeout_s: f64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyList>)> {
        self.check_open()?;
        if let Some(e) = self.pending.lock().expect("pending").take() {
            return Err(e);
        }
        let deadline = Instant::now() + Duration::from_secs_f64(timeout_s.max(0.0));
        let mut got = Gathered::default();
        loop {
            let step = py.detach(|| self.poll(&mut got, max_records.max(1), deadline));
            match step {
                Step::Done => break,
                Step::Rebalance(ev) => {
                    self.rebalance(py, &ev)?;
                    if self.has_pending() {
                        break;
                    }
                }
            }
        }
        let Gathered { batches, events } = got;
        let finished = py.detach(|| {
            batches
                .partitions
                .into_iter()
                .map(|b| {
                    let key = (b.topic.clone(), b.partition);
                    b.finish().map(|rb| (key, rb))
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let finished = finished.map_err(|e| PyRuntimeError::new_err(format!("building a batch: {e}")))?;
        let records = PyDict::new(py);
        for (key, rb) in finished {
            records.set_item(key, rb.to_pyarrow(py)?)?;
        }
        let out: Vec<Bound<'py, PyTuple>> = events.iter().map(|e| e.to_py(py)).collect::<PyResult<_>>()?;
        Ok((records, PyList::new(py, out)?))
    }

    /// Moves `topic[partition]`'s position to `offset` (asynchronously: takes effect for the next fetch).
    fn seek(&self, topic: String, partition: i32, offset: i64) -> PyResult<()> {
        self.check_open()?;
        let tpl = tpl_with_offsets(&[((topic, partition), offset)])?;
        unsafe { rk_error_obj(rdsys::rd_kafka_seek_partitions(self.rk(), tpl.ptr(), 0), "seek")? };
        // an asynchronous seek (timeout 0) leaves _IN_PROGRESS on a partition it accepted
        let failed = unsafe { events::tpl_elems(tpl.ptr()) }
            .iter()
            .find(|e| {
                !matches!(
                    e.err,
                    Err::RD_KAFKA_RESP_ERR_NO_ERROR | Err::RD_KAFKA_RESP_ERR__IN_PROGRESS
                )
            })
            .map(|e| e.err);
        match failed {
            Some(e) => Err(rk_error(e, "seek")),
            None => Ok(()),
        }
    }

    fn pause(&self, partitions: Vec<Tp>) -> PyResult<()> {
        self.check_open()?;
        self.pause_tps(&partitions)
    }

    fn resume(&self, partitions: Vec<Tp>) -> PyResult<()> {
        self.check_open()?;
        let tpl = tpl_of(&partitions)?;
        let e = unsafe { rdsys::rd_kafka_resume_partitions(self.rk(), tpl.ptr()) };
        if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(rk_error(e, "resume"));
        }
        Ok(())
    }

    /// The partitions currently assigned to this consumer.
    fn assignment(&self) -> PyResult<Vec<Tp>> {
        self.check_open()?;
        let mut tpl: *mut rdsys::rd_kafka_topic_partition_list_t = ptr::null_mut();
        let e = unsafe { rdsys::rd_kafka_assignment(self.rk(), &mut tpl) };
        if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(rk_error(e, "assignment"));
        }
        let keys = unsafe { events::tpl_keys(tpl) };
        unsafe { rdsys::rd_kafka_topic_partition_list_destroy(tpl) };
        Ok(keys)
    }

    /// Commits `offsets` (the next offset to read per partition). An asynchronous commit reports as a "commit"
    /// event of a later consume(). A synchronous one waits, GIL released, at most `timeout_s` for the group
    /// coordinator's answer and raises KafkaClientError when it fails or does not come (code "_TIMED_OUT").
    #[pyo3(signature = (offsets, synchronous, timeout_s = 30.0))]
    fn commit(&self, py: Python<'_>, offsets: HashMap<Tp, i64>, synchronous: bool, timeout_s: f64) -> PyResult<()> {
        self.check_open()?;
        if offsets.is_empty() {
            return Ok(());
        }
        let entries: Vec<(Tp, i64)> = offsets.into_iter().collect();
        let tpl = tpl_with_offsets(&entries)?;
        let rk = self.rk();
        if !synchronous {
            // the result arrives on the consumer queue as an OFFSET_COMMIT event ("commit" of a later consume());
            // (with rd_kafka_commit(async=1) no OFFSET_COMMIT event ever arrived on it, measured in the tests)
            let e = unsafe { rdsys::rd_kafka_commit_queue(rk, tpl.ptr(), self.queue.0, None, ptr::null_mut()) };
            if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(rk_error(e, "commit"));
            }
            return Ok(());
        }
        // the result on a queue of its own, waited for at most timeout_s: rd_kafka_commit(async=0) has no bound, and
        // across a broker stall it was seen to wait for minutes (test_kafka_outage::test_broker_stalled)
        let reply = Queue(unsafe { rdsys::rd_kafka_queue_new(rk) });
        let e = unsafe { rdsys::rd_kafka_commit_queue(rk, tpl.ptr(), reply.0, None, ptr::null_mut()) };
        if e != Err::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(rk_error(e, "commit"));
        }
        let wait_ms = (timeout_s.max(0.0) * 1000.0).min(i32::MAX as f64) as i32;
        let event = py.detach(|| {
            let q = &reply;
            unsafe { rdsys::rd_kafka_queue_poll(q.0, wait_ms) as usize }
        });
        if event == 0 {
            // `reply` is destroyed on return, which disables it: librdkafka drops a late result
            let text = format!("commit: no answer from the group coordinator within {timeout_s} s");
            return Err(kafka_error("_TIMED_OUT", &text, false));
        }
        let event = OwnedEvent(event as *mut rdsys::rd_kafka_event_t);
        match unsafe { events::commit_event(event.0) } {
            Event::Commit {
                code: Some(code),
                failed,
            } => {
                let first = failed
                    .first()
                    .map(|(t, p, c)| format!(" ({t}[{p}]: {c})"))
                    .unwrap_or_default();
                Err(kafka_error(&code, &format!("commit failed{first}"), false))
            }
            Event::Commit { failed, .. } if !failed.is_empty() => {
                let (t, p, c) = &failed[0];
                Err(kafka_error(c, &format!("commit failed for {t}[{p}]"), false))
            }
            _ => Ok(()),
        }
    }

    /// librdkafka's cached high watermark of `topic[partition]` (no request); None when unknown.
    fn high_watermark(&self, topic: String, partition: i32) -> PyResult<Option<i64>> {
        self.check_open()?;
        let name = CString::new(topic).map_err(|_| PyValueError::new_err("topic contains NUL"))?;
        let (mut low, mut high) = (0i64, 0i64);
        let e =
            unsafe { rdsys::rd_kafka_get_watermark_offsets(self.rk(), name.as_ptr(), partition, &mut low, &mut high) };
        Ok((e == Err::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high))
    }

    /// Leaves the group: the revoke (or lost) handler runs for the assigned partitions first, then the client
    /// closes. Polling waits with the GIL released. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        {
            let mut closed = self.closed.lock().expect("closed flag");
            if *closed {
                return Ok(());
            }
            *closed = true;
        }
        let rk = self.rk();
        unsafe { rk_error_obj(rdsys::rd_kafka_consumer_close_queue(rk, self.queue.0), "close")? };
        loop {
            // polled without the GIL until closed or a rebalance needs the handler: a close the caller abandoned
            // (KafkaSource bounds it) must not take the GIL back while the interpreter finalizes (CPython ends such
            // a thread with pthread_exit, which cannot unwind through Rust frames)
            struct Q(*mut rdsys::rd_kafka_queue_t, *mut rdsys::rd_kafka_t);
            unsafe impl Send for Q {}
            let q = Q(self.queue.0, rk);
            let ev = py.detach(move || {
                let q = q;
                loop {
                    let ev = unsafe { rdsys::rd_kafka_queue_poll(q.0, 100) };
                    if !ev.is_null() {
                        if unsafe { rdsys::rd_kafka_event_type(ev) } == rdsys::RD_KAFKA_EVENT_REBALANCE {
                            return ev as usize;
                        }
                        unsafe { rdsys::rd_kafka_event_destroy(ev) };
                    }
                    if unsafe { rdsys::rd_kafka_consumer_closed(q.1) } != 0 {
                        return 0;
                    }
                }
            });
            if ev == 0 {
                break;
            }
            let ev = OwnedEvent(ev as *mut rdsys::rd_kafka_event_t);
            self.rebalance(py, &ev)?;
        }
        *self.handler.lock().expect("handler") = None;
        match self.pending.lock().expect("pending").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
