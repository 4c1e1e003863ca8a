//! A real Chromium, headless, driven over WebDriver (chromedriver, which
//! scripts/test.sh installs from Debian): the portal and console tests.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Browser {
    pub async fn start() -> Browser {
        let chromedriver = std::env::var("MCPGATE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("MCPGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{chromedriver} starts ({e}): run ./scripts/test.sh once to install chromium-driver"));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"]
            }
        });
        let capabilities = capabilities.as_object().cloned().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(err) if Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("no WebDriver session with Chromium: {err}"),
            }
        };
        Browser { client, driver }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks what leads to another page (a link, a form's button) and waits
    /// until that page has loaded: WebDriver's click returns as soon as the
    /// click is dispatched, and reading the old page then would race.
    pub async fn click(&self, css: &str) {
        let old_page = self.client.find(Locator::Css("html")).await.expect("a page");
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.expect("click");
        let deadline = Instant::now() + Duration::from_secs(20);
        // The old page's root element goes stale once the new page replaces it.
        while old_page.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} led to no new page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        loop {
            let state = self.client.execute("return document.readyState", Vec::new()).await;
            if state.as_ref().is_ok_and(|s| s == "complete") {
                return;
            }
            assert!(Instant::now() < deadline, "the page after clicking {css} did not finish loading");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).text().await.expect("text")
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.expect("find").len()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.expect("url").path().to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Saves what the browser shows to `docs/screenshots/{name}.png`, for the README.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
