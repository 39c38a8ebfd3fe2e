//! `timerwheel`: one fixed-size file of 32-byte slots, indexed by delivery time. A slot
//! names the first and last `timerlog` record of the timers due in its interval (the
//! records chain backwards through their `prev` field), and how many there are.
//!
//! Layout of a slot (big-endian, as the Java broker writes it): delivery time divided by
//! the precision (i64), first record position (i64), last record position (i64), count
//! (i32), magic (i32, unused). The file holds `2 * slots_total` slots; the slot of time
//! `t` is `t / precision % (2 * slots_total)`, and a slot whose stored time differs from
//! the one asked for is empty (it belongs to another lap of the wheel).

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use memmap2::MmapMut;

pub const SLOT_SIZE: usize = 32;

/// A slot's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub time_ms: i64,
    pub first_pos: i64,
    pub last_pos: i64,
    pub num: i32,
    pub magic: i32,
}

pub struct TimerWheel {
    map: MmapMut,
    slots_total: i64,
    precision_ms: i64,
}

impl TimerWheel {
    /// Opens (creating when missing) the wheel file. A file of another length is refused,
    /// as Java refuses it.
    pub fn open(path: &Path, slots_total: i64, precision_ms: i64) -> io::Result<TimerWheel> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let len = (slots_total * 2) as u64 * SLOT_SIZE as u64;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let existing = file.metadata()?.len();
        if existing != 0 && existing != len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("Timer wheel length:{existing} != expected:{len}"),
            ));
        }
        file.set_len(len)?;
        // SAFETY: the file is ours (the store lock is held) and stays open with the map.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(TimerWheel {
            map,
            slots_total,
            precision_ms,
        })
    }

    fn index(&self, time_ms: i64) -> usize {
        ((time_ms / self.precision_ms).rem_euclid(self.slots_total * 2)) as usize * SLOT_SIZE
    }

    fn raw(&self, at: usize) -> Slot {
        let b = &self.map[at..at + SLOT_SIZE];
        let l = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap());
        let n = |i: usize| i32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        Slot {
            time_ms: l(0) * self.precision_ms,
            first_pos: l(8),
            last_pos: l(16),
            num: n(24),
            magic: n(28),
        }
    }

    /// The slot of `time_ms`, if it holds timers of exactly that interval.
    pub fn get(&self, time_ms: i64) -> Option<Slot> {
        let s = self.raw(self.index(time_ms));
        (s.time_ms == time_ms / self.precision_ms * self.precision_ms).then_some(s)
    }

    pub fn put(&mut self, time_ms: i64, first_pos: i64, last_pos: i64, num: i32, magic: i32) {
        let at = self.index(time_ms);
        let b = &mut self.map[at..at + SLOT_SIZE];
        b[0..8].copy_from_slice(&(time_ms / self.precision_ms).to_be_bytes());
        b[8..16].copy_from_slice(&first_pos.to_be_bytes());
        b[16..24].copy_from_slice(&last_pos.to_be_bytes());
        b[24..28].copy_from_slice(&num.to_be_bytes());
        b[28..32].copy_from_slice(&magic.to_be_bytes());
    }

    /// Recovery: makes `pos` the slot's last record (starting the slot there when it
    /// belonged to another lap).
    pub fn revise_last(&mut self, time_ms: i64, pos: i64) {
        match self.get(time_ms) {
            Some(s) => self.put(time_ms, s.first_pos, pos, s.num, s.magic),
            None => self.put(time_ms, pos, pos, 0, 0),
        }
    }

    /// The smallest first position among the slots from `start_ms` on whose last record
    /// lies past `max_offset` (a wheel ahead of a damaged log); `i64::MAX` when none.
    pub fn check_phy_pos(&self, start_ms: i64, max_offset: i64) -> i64 {
        let mut min_first = i64::MAX;
        for i in 0..self.slots_total * 2 {
            let t = start_ms + i * self.precision_ms;
            if let Some(s) = self.get(t) {
                if s.last_pos > max_offset && s.first_pos < min_first {
                    min_first = s.first_pos;
                }
            }
        }
        min_first
    }

    /// Timers counted in every slot from `start_ms` on.
    pub fn all_num(&self, start_ms: i64) -> i64 {
        (0..self.slots_total * 2)
            .filter_map(|i| self.get(start_ms + i * self.precision_ms))
            .map(|s| s.num as i64)
            .sum()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.map.flush()
    }
}
