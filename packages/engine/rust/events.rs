//! What consume() reports besides records, read from librdkafka's events while the GIL is released and turned into
//! Python tuples afterwards: ("eof", topic, partition, next_offset), ("out_of_range", topic, partition),
//! ("error", code_name, message, is_fatal), ("commit", code_name_or_None, [(topic, partition, code_name)]),
//! ("stats", json), ("log", level, facility, message).

use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use rdkafka_sys as rdsys;
use rdsys::rd_kafka_resp_err_t as Err;

pub enum Event {
    Eof {
        topic: String,
        partition: i32,
        offset: i64,
    },
    OutOfRange {
        topic: String,
        partition: i32,
    },
    Error {
        code: String,
        message: String,
        fatal: bool,
    },
    Commit {
        code: Option<String>,
        failed: Vec<(String, i32, String)>,
    },
    Stats(String),
    Log {
        level: i32,
        facility: String,
        message: String,
    },
}

impl Event {
    pub fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        match self {
            Event::Eof {
                topic,
                partition,
                offset,
            } => ("eof", topic, *partition, *offset).into_pyobject(py),
            Event::OutOfRange { topic, partition } => ("out_of_range", topic, *partition).into_pyobject(py),
            Event::Error { code, message, fatal } => ("error", code, message, *fatal).into_pyobject(py),
            Event::Commit { code, failed } => ("commit", code.as_deref(), PyList::new(py, failed)?).into_pyobject(py),
            Event::Stats(json) => ("stats", json).into_pyobject(py),
            Event::Log {
                level,
                facility,
                message,
            } => ("log", *level, facility, message).into_pyobject(py),
        }
    }
}

/// A C string of librdkafka as an owned Rust string ("" for null), invalid UTF-8 replaced.
///
/// # Safety
/// `s` must be null or a NUL-terminated string.
pub unsafe fn cstr(s: *const c_char) -> String {
    if s.is_null() {
        String::new()
    } else {
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

/// librdkafka's name of an error code (`rd_kafka_err2name`), e.g. "_TRANSPORT", "FENCED_INSTANCE_ID".
pub fn err_name(err: Err) -> String {
    unsafe { cstr(rdsys::rd_kafka_err2name(err)) }
}

/// librdkafka's description of an error code (`rd_kafka_err2str`).
pub fn err_str(err: Err) -> String {
    unsafe { cstr(rdsys::rd_kafka_err2str(err)) }
}

/// # Safety
/// `rkt` must be a valid topic handle.
pub unsafe fn topic_name(rkt: *mut rdsys::rd_kafka_topic_t) -> String {
    if rkt.is_null() {
        String::new()
    } else {
        cstr(rdsys::rd_kafka_topic_name(rkt))
    }
}

/// The (topic, partition) pairs of a partition list.
///
/// # Safety
/// `tpl` must be null or a valid list.
pub unsafe fn tpl_keys(tpl: *const rdsys::rd_kafka_topic_partition_list_t) -> Vec<(String, i32)> {
    tpl_elems(tpl).iter().map(|e| (cstr(e.topic), e.partition)).collect()
}

/// # Safety
/// `tpl` must be null or a valid list that outlives the slice.
pub unsafe fn tpl_elems<'a>(
    tpl: *const rdsys::rd_kafka_topic_partition_list_t,
) -> &'a [rdsys::rd_kafka_topic_partition_t] {
    if tpl.is_null() || (*tpl).cnt <= 0 || (*tpl).elems.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts((*tpl).elems, (*tpl).cnt as usize)
    }
}

/// The event of a consumer error: partition EOF and offset-out-of-range with their partition, other errors with
/// their code name (a fatal error's underlying code, as `rd_kafka_fatal_error` gives it).
///
/// # Safety
/// `rk` and `ev` must be valid; `ev` is an ERROR event.
pub unsafe fn error_event(rk: *mut rdsys::rd_kafka_t, ev: *mut rdsys::rd_kafka_event_t) -> Option<Event> {
    let err = rdsys::rd_kafka_event_error(ev);
    if err == Err::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    if matches!(
        err,
        Err::RD_KAFKA_RESP_ERR__PARTITION_EOF
            | Err::RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
            | Err::RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE
    ) {
        let tp = rdsys::rd_kafka_event_topic_partition(ev);
        if !tp.is_null() {
            let (topic, partition, offset) = (cstr((*tp).topic), (*tp).partition, (*tp).offset);
            rdsys::rd_kafka_topic_partition_destroy(tp);
            return Some(if err == Err::RD_KAFKA_RESP_ERR__PARTITION_EOF {
                Event::Eof {
                    topic,
                    partition,
                    offset,
                }
            } else {
                Event::OutOfRange { topic, partition }
            });
        }
    }
    let fatal = rdsys::rd_kafka_event_error_is_fatal(ev) != 0;
    let mut message = cstr(rdsys::rd_kafka_event_error_string(ev));
    let mut code = err;
    if err == Err::RD_KAFKA_RESP_ERR__FATAL {
        let mut buf = [0 as c_char; 512];
        code = rdsys::rd_kafka_fatal_error(rk, buf.as_mut_ptr(), buf.len());
        message = cstr(buf.as_ptr());
    }
    Some(Event::Error {
        code: err_name(code),
        message,
        fatal,
    })
}

/// The event of a message that carries an error (rkmessage->err set) instead of a record.
///
/// # Safety
/// `msg` must be a valid message.
pub unsafe fn message_error_event(msg: *const rdsys::rd_kafka_message_t) -> Event {
    let m = &*msg;
    let topic = topic_name(m.rkt);
    match m.err {
        Err::RD_KAFKA_RESP_ERR__PARTITION_EOF => Event::Eof {
            topic,
            partition: m.partition,
            offset: m.offset,
        },
        Err::RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET | Err::RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE => Event::OutOfRange {
            topic,
            partition: m.partition,
        },
        err => {
            let text = if m.payload.is_null() {
                err_str(err)
            } else {
                String::from_utf8_lossy(std::slice::from_raw_parts(m.payload as *const u8, m.len)).into_owned()
            };
            Event::Error {
                code: err_name(err),
                message: text,
                fatal: false,
            }
        }
    }
}

/// The result of an asynchronous offset commit.
///
/// # Safety
/// `ev` must be a valid OFFSET_COMMIT event.
pub unsafe fn commit_event(ev: *mut rdsys::rd_kafka_event_t) -> Event {
    let err = rdsys::rd_kafka_event_error(ev);
    let code = (err != Err::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| err_name(err));
    let failed = tpl_elems(rdsys::rd_kafka_event_topic_partition_list(ev))
        .iter()
        .filter(|e| e.err != Err::RD_KAFKA_RESP_ERR_NO_ERROR)
        .map(|e| (cstr(e.topic), e.partition, err_name(e.err)))
        .collect();
    Event::Commit { code, failed }
}

/// # Safety
/// `ev` must be a valid LOG event.
pub unsafe fn log_event(ev: *mut rdsys::rd_kafka_event_t) -> Option<Event> {
    let mut fac: *const c_char = ptr::null();
    let mut text: *const c_char = ptr::null();
    let mut level: i32 = 0;
    if rdsys::rd_kafka_event_log(ev, &mut fac, &mut text, &mut level) != 0 {
        return None;
    }
    Some(Event::Log {
        level,
        facility: cstr(fac),
        message: cstr(text),
    })
}

/// # Safety
/// `ev` must be a valid STATS event.
pub unsafe fn stats_event(ev: *mut rdsys::rd_kafka_event_t) -> Event {
    Event::Stats(cstr(rdsys::rd_kafka_event_stats(ev)))
}
