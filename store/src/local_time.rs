//! Calendar fields of a time in the machine's time zone, as Java's `Calendar` gives them
//! (index file names, the retention hour, time stamps in remarks).

/// A time broken down in local time; `month` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl LocalTime {
    /// `millis` since the epoch, in the local time zone.
    pub fn at(millis: i64) -> LocalTime {
        let secs = millis.div_euclid(1000) as libc::time_t;
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: localtime_r reads `secs` and writes only into `tm`.
        unsafe { libc::localtime_r(&secs, &mut tm) };
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec as u32,
            millis: millis.rem_euclid(1000) as u32,
        }
    }

    /// `yyyy-MM-dd HH:mm:ss,SSS` (Java's `UtilAll.timeMillisToHumanString2`).
    pub fn human_string2(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `yyyyMMddHHmmssSSS` (Java's `UtilAll.timeMillisToHumanString`, index file names).
    pub fn compact_string(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}
