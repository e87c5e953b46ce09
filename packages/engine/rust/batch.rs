//! Records of one partition, copied once from librdkafka's messages into Arrow builders, in the segment schema
//! (`kafka_backup.engine.format.segment.SCHEMA`).

use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr;
use std::slice;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{ArrayBuilder, BinaryBuilder, ListBuilder, StringBuilder, StructBuilder};
use arrow_array::types::Int32Type;
use arrow_array::RecordBatch;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, Int8Array, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use rdkafka_sys as rdsys;

/// The segment schema: topic dictionary<int32,string>, partition int32, offset int64, timestamp int64 (-1: none),
/// timestamp_type int8 (0 none, 1 create, 2 log-append), key and value binary (nullable), headers
/// list<struct<key: string, value: binary>> (nullable).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(
                    "topic",
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    false,
                ),
                Field::new("partition", DataType::Int32, false),
                Field::new("offset", DataType::Int64, false),
                Field::new("timestamp", DataType::Int64, false),
                Field::new("timestamp_type", DataType::Int8, false),
                Field::new("key", DataType::Binary, true),
                Field::new("value", DataType::Binary, true),
                Field::new(
                    "headers",
                    DataType::List(Arc::new(Field::new_list_field(header_struct(), true))),
                    true,
                ),
            ]))
        })
        .clone()
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Binary, true),
    ])
}

fn header_struct() -> DataType {
    DataType::Struct(header_fields())
}

/// The bytes behind a librdkafka pointer and length; None for a null pointer (a null key or value).
///
/// # Safety
/// `data` must be null or point to `len` readable bytes that outlive the returned slice.
unsafe fn bytes<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    if data.is_null() {
        None
    } else if len == 0 {
        Some(&[])
    } else {
        Some(slice::from_raw_parts(data, len))
    }
}

/// One partition's records of one consume() call, in the order they were appended (librdkafka's offset order).
pub struct PartitionBatch {
    /// librdkafka's topic handle, the identity of the topic while the batch is filled (no string per record).
    pub rkt: *mut rdsys::rd_kafka_topic_t,
    pub topic: String,
    pub partition: i32,
    offsets: Vec<i64>,
    timestamps: Vec<i64>,
    timestamp_types: Vec<i8>,
    keys: BinaryBuilder,
    values: BinaryBuilder,
    headers: ListBuilder<StructBuilder>,
}

// The topic handle is only compared, never dereferenced after the batch left the consume loop.
unsafe impl Send for PartitionBatch {}

impl PartitionBatch {
    pub fn new(rkt: *mut rdsys::rd_kafka_topic_t, topic: String, partition: i32) -> Self {
        let header_builder = StructBuilder::new(
            header_fields(),
            vec![
                Box::new(StringBuilder::new()) as Box<dyn ArrayBuilder>,
                Box::new(BinaryBuilder::new()),
            ],
        );
        PartitionBatch {
            rkt,
            topic,
            partition,
            offsets: Vec::new(),
            timestamps: Vec::new(),
            timestamp_types: Vec::new(),
            keys: BinaryBuilder::new(),
            values: BinaryBuilder::new(),
            headers: ListBuilder::new(header_builder),
        }
    }

    /// Appends one consumed record, copying its key, value and headers into the builders.
    ///
    /// # Safety
    /// `msg` must be a valid message of librdkafka without error, alive for the duration of the call.
    pub unsafe fn append(&mut self, msg: *const rdsys::rd_kafka_message_t) {
        let m = &*msg;
        self.offsets.push(m.offset);
        let mut ts_type = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        let ts = rdsys::rd_kafka_message_timestamp(msg, &mut ts_type);
        let ts_type = match ts_type {
            rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_CREATE_TIME => 1,
            rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME => 2,
            _ => 0,
        };
        self.timestamps.push(if ts_type == 0 { -1 } else { ts });
        self.timestamp_types.push(ts_type);
        match bytes(m.key as *const u8, m.key_len) {
            Some(k) => self.keys.append_value(k),
            None => self.keys.append_null(),
        }
        match bytes(m.payload as *const u8, m.len) {
            Some(v) => self.values.append_value(v),
            None => self.values.append_null(),
        }
        self.append_headers(msg);
    }

    unsafe fn append_headers(&mut self, msg: *const rdsys::rd_kafka_message_t) {
        let mut hdrs: *mut rdsys::rd_kafka_headers_t = ptr::null_mut();
        let err = rdsys::rd_kafka_message_headers(msg, &mut hdrs);
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || hdrs.is_null() {
            self.headers.append_null();
            return;
        }
        let structs = self.headers.values();
        let mut idx = 0;
        loop {
            let mut name: *const c_char = ptr::null();
            let mut value: *const std::os::raw::c_void = ptr::null();
            let mut size: usize = 0;
            let err = rdsys::rd_kafka_header_get_all(hdrs, idx, &mut name, &mut value, &mut size);
            if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                break;
            }
            let key = CStr::from_ptr(name).to_bytes();
            let key_builder = structs.field_builder::<StringBuilder>(0).expect("header key builder");
            match std::str::from_utf8(key) {
                Ok(k) => key_builder.append_value(k),
                Err(_) => key_builder.append_value(String::from_utf8_lossy(key)),
            }
            let value_builder = structs.field_builder::<BinaryBuilder>(1).expect("header value builder");
            match bytes(value as *const u8, size) {
                Some(v) => value_builder.append_value(v),
                None => value_builder.append_null(),
            }
            structs.append(true);
            idx += 1;
        }
        self.headers.append(true);
    }

    /// The finished batch in the segment schema.
    pub fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let n = self.offsets.len();
        let topic = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![0; n]),
            Arc::new(StringArray::from(vec![self.topic.as_str()])),
        )?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(topic),
            Arc::new(Int32Array::from(vec![self.partition; n])),
            Arc::new(Int64Array::from(std::mem::take(&mut self.offsets))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.timestamps))),
            Arc::new(Int8Array::from(std::mem::take(&mut self.timestamp_types))),
            Arc::new(self.keys.finish()),
            Arc::new(self.values.finish()),
            Arc::new(self.headers.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}

/// The batches of one consume() call, one per partition in first-seen order.
#[derive(Default)]
pub struct Batches {
    pub partitions: Vec<PartitionBatch>,
    pub records: usize,
    last: usize,
}

impl Batches {
    /// Appends a record to its partition's batch (found by topic handle and partition, the last one hit first).
    ///
    /// # Safety
    /// As [`PartitionBatch::append`]; `msg.rkt` must be a valid topic handle.
    pub unsafe fn append(&mut self, msg: *const rdsys::rd_kafka_message_t) {
        let m = &*msg;
        let hit = |b: &PartitionBatch| b.rkt == m.rkt && b.partition == m.partition;
        let idx = if self.partitions.get(self.last).is_some_and(hit) {
            self.last
        } else if let Some(i) = self.partitions.iter().position(hit) {
            i
        } else {
            let topic = crate::events::topic_name(m.rkt);
            self.partitions.push(PartitionBatch::new(m.rkt, topic, m.partition));
            self.partitions.len() - 1
        };
        self.last = idx;
        self.partitions[idx].append(msg);
        self.records += 1;
    }
}
