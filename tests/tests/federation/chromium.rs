//! Headless Chromium driven over the DevTools protocol: one page, with
//! JavaScript evaluated in it and screenshots taken, for tests of the
//! console page. Chromium is Debian's `chromium` package (`.ci/run`
//! installs it); `RONGXIN_CHROMIUM` names another binary.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Longest wait for one answer of the browser.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A headless Chromium with one page open; killed when dropped.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

fn binary() -> String {
    std::env::var("RONGXIN_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

impl Browser {
    /// Starts Chromium (a window of `width` × `height` CSS pixels) and
    /// opens a blank page.
    pub fn launch(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new(binary())
            .args([
                "--headless",
                // Tests run as root in CI, where the sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--lang=zh-CN",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start '{}': {e}; install Debian's chromium package (.ci/run does) or set RONGXIN_CHROMIUM",
                    binary()
                )
            });
        // Chromium says where its DevTools endpoint listens on stderr; the
        // rest of stderr is drained so that it never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("Chromium to print its DevTools address");
        let addr = url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .expect("a ws:// DevTools address")
            .to_owned();
        let stream = TcpStream::connect(&addr).expect("connect to Chromium's DevTools port");
        stream
            .set_read_timeout(Some(ANSWER_TIMEOUT))
            .expect("a read timeout");
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("a DevTools WebSocket");
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        b.call_page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    /// Sends one command and waits for its answer, skipping events.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("send {method} to Chromium: {e}"));
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "Chromium did not answer {method}"
            );
            let m = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("read Chromium's answer to {method}: {e}"));
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(&text).expect("DevTools sends JSON");
            if v["id"] == json!(id) {
                if let Some(err) = v.get("error") {
                    panic!("Chromium refused {method}: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    fn call_page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        let r = self.call_page("Page.navigate", json!({"url": url}));
        assert!(
            r.get("errorText").is_none(),
            "Chromium could not open {url}: {r}"
        );
    }

    /// The value of a JavaScript expression evaluated in the page (promises
    /// awaited); panics on an exception.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call_page(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("the page threw on {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Saves a PNG screenshot of the whole page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call_page(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = B64
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot's directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
