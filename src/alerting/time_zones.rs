//! IANA time zones from the Workers runtime's ICU (`Intl.DateTimeFormat`), so the tz database
//! does not have to be compiled into the wasm.

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use wasm_bindgen::prelude::*;
use worker::js_sys::{Array, Date, Object, Reflect};

use crate::alerting::rules::TimeZones;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Intl, js_name = DateTimeFormat)]
    type ZoneFormat;

    /// `new Intl.DateTimeFormat(...)`, catching the RangeError of an unknown zone (the js-sys
    /// binding does not catch, and an uncaught throw would abort the worker).
    #[wasm_bindgen(catch, constructor, js_namespace = Intl, js_class = "DateTimeFormat")]
    fn new(locales: &JsValue, options: &Object) -> Result<ZoneFormat, JsValue>;

    #[wasm_bindgen(method, js_class = "DateTimeFormat", js_name = formatToParts)]
    fn format_to_parts(this: &ZoneFormat, date: &Date) -> Array;
}

pub struct IntlZones;

impl TimeZones for IntlZones {
    fn local(&self, tz: &str, at: DateTime<Utc>) -> Option<(Weekday, NaiveTime)> {
        let options = Object::new();
        for (key, value) in [
            ("timeZone", tz),
            ("weekday", "short"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
            ("second", "2-digit"),
            ("hourCycle", "h23"),
        ] {
            Reflect::set(&options, &key.into(), &value.into()).ok()?;
        }
        let format = ZoneFormat::new(&JsValue::from_str("en-US"), &options).ok()?;
        let parts =
            format.format_to_parts(&Date::new(&JsValue::from_f64(at.timestamp_millis() as f64)));
        let (mut weekday, mut hour, mut minute, mut second) = (None, None, None, None);
        for part in parts.iter() {
            let kind = Reflect::get(&part, &"type".into()).ok()?.as_string()?;
            let value = Reflect::get(&part, &"value".into()).ok()?.as_string()?;
            match kind.as_str() {
                "weekday" => weekday = value.parse::<Weekday>().ok(),
                "hour" => hour = value.parse::<u32>().ok().map(|h| h % 24),
                "minute" => minute = value.parse::<u32>().ok(),
                "second" => second = value.parse::<u32>().ok(),
                _ => {}
            }
        }
        Some((weekday?, NaiveTime::from_hms_opt(hour?, minute?, second?)?))
    }
}
