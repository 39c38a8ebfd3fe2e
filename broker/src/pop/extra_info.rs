//! The receipt handle of a popped message (`POP_CK`, the `extraInfo` of an ack) and the
//! per-queue summaries of a POP answer, in the text formats Java's ExtraInfoUtil reads.
//!
//! A receipt handle is eight space-separated fields: checkpoint start offset, pop time,
//! invisible time, revive queue id, retry flag ("0" normal topic, "1" retry topic, "2"
//! retry topic of the `+` naming), broker name, queue id, queue offset of the message.

use super::retry_flag;

/// A parsed receipt handle. Older handles may stop before the queue offset.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraInfo {
    pub ck_queue_offset: i64,
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
    pub retry: String,
    pub broker_name: String,
    pub queue_id: i32,
    pub queue_offset: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    ck_queue_offset: i64,
    pop_time: i64,
    invisible_time: i64,
    revive_qid: i32,
    topic: &str,
    broker_name: &str,
    queue_id: i32,
    queue_offset: i64,
) -> String {
    format!(
        "{ck_queue_offset} {pop_time} {invisible_time} {revive_qid} {} {broker_name} {queue_id} {queue_offset}",
        retry_flag(topic)
    )
}

/// Reads a receipt handle; the error says which field is missing or wrong.
pub fn parse(text: &str) -> Result<ExtraInfo, String> {
    let parts: Vec<&str> = text.split(' ').collect();
    let num = |i: usize, name: &str| -> Result<i64, String> {
        parts
            .get(i)
            .ok_or_else(|| format!("{name} missing from extraInfo {text:?}"))?
            .parse::<i64>()
            .map_err(|_| format!("{name} is not a number in extraInfo {text:?}"))
    };
    let text_at = |i: usize, name: &str| -> Result<String, String> {
        parts
            .get(i)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("{name} missing from extraInfo {text:?}"))
    };
    Ok(ExtraInfo {
        ck_queue_offset: num(0, "ckQueueOffset")?,
        pop_time: num(1, "popTime")?,
        invisible_time: num(2, "invisibleTime")?,
        revive_qid: num(3, "reviveQid")? as i32,
        retry: text_at(4, "retry")?,
        broker_name: text_at(5, "brokerName")?,
        queue_id: num(6, "queueId")? as i32,
        queue_offset: if parts.len() > 7 {
            Some(num(7, "queueOffset")?)
        } else {
            None
        },
    })
}

/// The topic a handle's retry flag points at: the topic itself, or the group's retry topic.
pub fn real_topic(topic: &str, group: &str, retry: &str) -> Result<String, String> {
    match retry {
        "0" => Ok(topic.to_string()),
        "1" => Ok(super::retry_topic_v1(topic, group)),
        "2" => Ok(super::retry_topic_v2(topic, group)),
        _ => Err(format!("unknown retry flag {retry:?}")),
    }
}

fn separate(out: &mut String) {
    if !out.is_empty() {
        out.push(';');
    }
}

/// `startOffsetInfo`: "<retry flag> <queueId> <start offset>", entries joined by ';'.
pub fn add_start_offset(out: &mut String, topic: &str, queue_id: i32, start: i64) {
    separate(out);
    out.push_str(&format!("{} {queue_id} {start}", retry_flag(topic)));
}

/// `msgOffsetInfo`: "<retry flag> <queueId> <o1>,<o2>,...", entries joined by ';'.
pub fn add_msg_offsets(out: &mut String, topic: &str, queue_id: i32, offsets: &[i64]) {
    separate(out);
    let list: Vec<String> = offsets.iter().map(i64::to_string).collect();
    out.push_str(&format!("{} {queue_id} {}", retry_flag(topic), list.join(",")));
}

/// `orderCountInfo` entry for one message: "<retry flag> qo<queueId>%<offset> <count>".
pub fn add_offset_order_count(out: &mut String, topic: &str, queue_id: i32, offset: i64, count: i32) {
    separate(out);
    out.push_str(&format!("{} qo{queue_id}%{offset} {count}", retry_flag(topic)));
}

/// `orderCountInfo` entry for a queue (what older clients read): "<retry flag> <queueId> <count>".
pub fn add_queue_order_count(out: &mut String, topic: &str, queue_id: i32, count: i32) {
    separate(out);
    out.push_str(&format!("{} {queue_id} {count}", retry_flag(topic)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let h = build(5, 1000, 30000, 3, "%RETRY%g_t", "b", 0, 7);
        assert_eq!(h, "5 1000 30000 3 1 b 0 7");
        let p = parse(&h).unwrap();
        assert_eq!(p.ck_queue_offset, 5);
        assert_eq!(p.revive_qid, 3);
        assert_eq!(p.queue_offset, Some(7));
        assert_eq!(real_topic("t", "g", &p.retry).unwrap(), "%RETRY%g_t");
        assert!(parse("1 2").is_err());
    }

    #[test]
    fn summaries_join_with_semicolons() {
        let mut s = String::new();
        add_start_offset(&mut s, "t", 0, 4);
        add_start_offset(&mut s, "%RETRY%g+t", 0, 9);
        assert_eq!(s, "0 0 4;2 0 9");
        let mut m = String::new();
        add_msg_offsets(&mut m, "t", 1, &[4, 5, 7]);
        assert_eq!(m, "0 1 4,5,7");
        let mut o = String::new();
        add_offset_order_count(&mut o, "t", 1, 4, 2);
        add_queue_order_count(&mut o, "t", 1, 0);
        assert_eq!(o, "0 qo1%4 2;0 1 0");
    }
}
