"""The web page at ``/`` in a real headless Chromium, against the whole system: a person's path.

Screenshots of each step are kept under ``.data/artefacts/web/<test>/``.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bootstrap import ensure_chromium
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from system import System

ARTEFACTS = Path(__file__).resolve().parents[2] / ".data" / "artefacts" / "web"
WAIT_S = 120  # generous: a conversion on a loaded machine, never a reason to fail


@pytest.fixture(scope="module")
def chromium() -> dict[str, str]:
    return ensure_chromium()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = ARTEFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(chromium: dict[str, str], downloads: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium["chromium"]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(options=options, service=Service(chromium["chromedriver"]))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def tenant_key(system: System) -> str:
    """A fresh tenant's key, so the recent list holds only this test's conversions."""
    response = httpx.post(
        f"{system.base_url}/v1/admin/api-keys",
        json={"tenant": f"web-{uuid.uuid4().hex[:8]}"},
        headers={"Authorization": f"Bearer {system.admin_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["key"])


def until(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S).until(condition, what)


def open_and_sign_in(driver: WebDriver, base_url: str, key: str, shots: Path) -> None:
    driver.get(f"{base_url}/")
    ready = (By.CSS_SELECTOR, "body[data-ready]")
    until(driver, ec.presence_of_element_located(ready), "the page ready")
    driver.save_screenshot(str(shots / "1-sign-in.png"))
    driver.find_element(By.ID, "api-key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()


def test_a_person_converts_a_schedule_and_downloads_it(
    system: System,
    browser: WebDriver,
    tenant_key: str,
    mpp_files: list[Path],
    shots: Path,
    downloads: Path,
) -> None:
    sample = next(p for p in mpp_files if p.name == "mpp14timephased.mpp")
    open_and_sign_in(browser, system.base_url, tenant_key, shots)
    until(browser, ec.visibility_of_element_located((By.ID, "workspace")), "signed in")
    assert "API key" not in browser.current_url and tenant_key not in browser.current_url
    Select(browser.find_element(By.ID, "target")).select_by_value("mspdi")
    browser.find_element(By.ID, "file").send_keys(str(sample))
    browser.save_screenshot(str(shots / "2-chosen.png"))
    browser.find_element(By.ID, "convert").click()

    size = sample.stat().st_size
    until(
        browser,
        ec.text_to_be_present_in_element((By.ID, "progress-text"), f"{size} of {size} bytes"),
        "upload progress reached the file's size",
    )
    until(
        browser,
        ec.text_to_be_present_in_element_attribute((By.ID, "status"), "data-state", "completed"),
        "the status reached completed",
    )
    browser.save_screenshot(str(shots / "3-completed.png"))
    job_id = browser.find_element(By.ID, "status").text.split()[1].rstrip(":")

    browser.find_element(By.ID, "download").click()
    until(browser, lambda _: [p for p in downloads.iterdir() if p.suffix == ".xml"], "download")
    expected = httpx.get(
        f"{system.base_url}/v1/conversions/{job_id}/result",
        headers={"Authorization": f"Bearer {tenant_key}"},
        timeout=60,
    ).content
    until(
        browser,
        lambda _: next(downloads.glob("*.xml")).read_bytes() == expected,
        "the downloaded file holds the result's bytes",
    )

    row = (By.CSS_SELECTOR, f'#recent tr[data-id="{job_id}"]')
    until(browser, ec.text_to_be_present_in_element(row, "completed"), "in the recent list")
    assert sample.name in browser.find_element(*row).text
    browser.save_screenshot(str(shots / "4-downloaded.png"))

    browser.set_window_size(375, 800)
    browser.save_screenshot(str(shots / "5-phone.png"))
    browser.find_element(By.ID, "sign-out").click()
    until(browser, ec.visibility_of_element_located((By.ID, "sign-in")), "signed out")
    assert browser.execute_script("return sessionStorage.length") == 0


def test_a_bad_key_shows_the_sign_in_error(system: System, browser: WebDriver, shots: Path) -> None:
    open_and_sign_in(browser, system.base_url, "not-a-key", shots)
    until(
        browser,
        ec.text_to_be_present_in_element((By.ID, "sign-in-error"), "401 (unauthorized)"),
        "the sign-in error",
    )
    assert "sign in again with a valid key" in browser.find_element(By.ID, "sign-in-error").text
    assert not browser.find_element(By.ID, "workspace").is_displayed()
    browser.save_screenshot(str(shots / "2-refused.png"))


def test_a_file_that_is_not_a_schedule_shows_the_415_message(
    system: System, browser: WebDriver, tenant_key: str, shots: Path, tmp_path: Path
) -> None:
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2048))
    open_and_sign_in(browser, system.base_url, tenant_key, shots)
    until(browser, ec.visibility_of_element_located((By.ID, "workspace")), "signed in")
    browser.find_element(By.ID, "file").send_keys(str(picture))
    browser.find_element(By.ID, "convert").click()
    until(
        browser,
        ec.text_to_be_present_in_element((By.ID, "error"), "415 (unsupported_format)"),
        "the 415 message",
    )
    assert "not a schedule the service can read" in browser.find_element(By.ID, "error").text
    browser.save_screenshot(str(shots / "2-not-a-schedule.png"))


def test_the_page_is_public_and_sent_with_a_strict_policy(system: System) -> None:
    page = httpx.get(f"{system.base_url}/", timeout=30)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert httpx.get(f"{system.base_url}/web/app.js", timeout=30).status_code == 200
    config = httpx.get(f"{system.base_url}/web-config.json", timeout=30).json()
    assert "mspdi" in config["targets"]
