//! The order in which Java's hash maps hand out their entries, for bodies Java writes by
//! iterating a `HashMap` or `ConcurrentHashMap` (runtime info, per-group consume stats,
//! MessageQueue-keyed tables). Clients do not depend on it, but matching it makes our
//! answers byte-comparable with recorded ones.
//!
//! Both maps iterate bucket by bucket; a bucket is `spread(hashCode) & (tableSize - 1)` and
//! keeps its entries in insertion order. Trees (8+ colliding keys) and a
//! `ConcurrentHashMap` resized after its first fill are not modelled.

/// Java's `String.hashCode` (over UTF-16 code units).
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32))
}

/// `MessageQueue.hashCode` (brokerName, queueId, topic).
pub fn message_queue_hash(broker_name: &str, queue_id: i32, topic: &str) -> i32 {
    let mut h: i32 = 1;
    h = h.wrapping_mul(31).wrapping_add(string_hash(broker_name));
    h = h.wrapping_mul(31).wrapping_add(queue_id);
    h.wrapping_mul(31).wrapping_add(string_hash(topic))
}

fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

/// Indices of `hashes` (distinct keys, in insertion order) in `java.util.HashMap`
/// iteration order, for a map made with `initial_table` buckets (16 for `new HashMap()`,
/// a power of two) that doubles whenever it is more than three quarters full.
pub fn hash_map_order(hashes: &[i32], initial_table: usize) -> Vec<usize> {
    let mut table = initial_table.max(1).next_power_of_two();
    while hashes.len() > table / 4 * 3 {
        table *= 2;
    }
    order(hashes, |h| spread(h) as usize & (table - 1))
}

/// Indices of `hashes` in `ConcurrentHashMap` iteration order, for a map made with
/// `new ConcurrentHashMap(initial_capacity)`.
pub fn concurrent_hash_map_order(hashes: &[i32], initial_capacity: usize) -> Vec<usize> {
    // Java sizes the table for one and a half times the capacity asked for.
    let mut table = (initial_capacity + (initial_capacity >> 1) + 1).next_power_of_two();
    while hashes.len() >= table / 4 * 3 {
        table *= 2;
    }
    order(hashes, |h| (spread(h) & 0x7fff_ffff) as usize & (table - 1))
}

fn order(hashes: &[i32], bucket: impl Fn(i32) -> usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..hashes.len()).collect();
    idx.sort_by_key(|&i| (bucket(hashes[i]), i));
    idx
}

/// `items` reordered as a `HashMap<String, _>` keyed by `key` would iterate them.
pub fn in_hash_map_order<T>(items: Vec<T>, initial_table: usize, key: impl Fn(&T) -> i32) -> Vec<T> {
    let hashes: Vec<i32> = items.iter().map(&key).collect();
    reorder(items, &hash_map_order(&hashes, initial_table))
}

fn reorder<T>(items: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.iter().filter_map(|&i| slots[i].take()).collect()
}

/// `items` reordered as a `ConcurrentHashMap` made with `initial_capacity` would iterate them.
pub fn in_concurrent_hash_map_order<T>(items: Vec<T>, initial_capacity: usize, key: impl Fn(&T) -> i32) -> Vec<T> {
    let hashes: Vec<i32> = items.iter().map(&key).collect();
    reorder(items, &concurrent_hash_map_order(&hashes, initial_capacity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_is_javas() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(
            string_hash("TOPIC_PUT_NUMS"),
            "TOPIC_PUT_NUMS"
                .encode_utf16()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
        );
        // A well-known value: "hello".hashCode() == 99162322.
        assert_eq!(string_hash("hello"), 99_162_322);
    }

    #[test]
    fn subscription_groups_iterate_as_in_golden_13() {
        // Golden 13's GET_BROKER_CONSUME_STATS lists the groups in this order.
        let created = [
            "TOOLS_CONSUMER",
            "FILTERSRV_CONSUMER",
            "SELF_TEST_C_GROUP",
            "CID_ONS-HTTP-PROXY",
            "CID_ONSAPI_PULL",
            "CID_ONSAPI_PERMISSION",
            "CID_ONSAPI_OWNER",
            "cg_stats",
        ];
        let ordered = in_concurrent_hash_map_order(created.to_vec(), 1024, |g| string_hash(g));
        assert_eq!(
            ordered,
            [
                "SELF_TEST_C_GROUP",
                "CID_ONSAPI_OWNER",
                "CID_ONSAPI_PERMISSION",
                "cg_stats",
                "TOOLS_CONSUMER",
                "CID_ONS-HTTP-PROXY",
                "FILTERSRV_CONSUMER",
                "CID_ONSAPI_PULL"
            ]
        );
    }

    #[test]
    fn message_queues_iterate_as_in_golden_13() {
        let ordered = in_hash_map_order(vec![0, 1, 2, 3], 16, |q| {
            message_queue_hash("broker-a", *q, "StatsTopic")
        });
        assert_eq!(ordered, [2, 1, 3, 0]);
        // whichTopicByConsumer's HashSet: the retry topic came first in golden 13.
        let topics = in_hash_map_order(vec!["StatsTopic", "%RETRY%cg_stats"], 16, |t| string_hash(t));
        assert_eq!(topics, ["%RETRY%cg_stats", "StatsTopic"]);
    }
}
