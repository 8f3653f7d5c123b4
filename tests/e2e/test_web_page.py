"""The web page at ``/`` in a real headless Chromium, against the whole system: a person's path,
free and paid, live from the event stream or, when that is unreachable, by long polling.

Screenshots of each step are kept under ``.data/artefacts/web/<test>/``.
"""

import time
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

from tests.support.payments import new_cpf

ARTEFACTS = Path(__file__).resolve().parents[2] / ".data" / "artefacts" / "web"
WAIT_S = 120  # generous: a conversion on a loaded machine, never a reason to fail
TENANT_CACHE_S = 2.0  # how long a process may serve a tenant's price before it re-reads
SAMPLE = "mpp14timephased.mpp"


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


def key_of(system: System, tenant: str) -> str:
    response = httpx.post(
        f"{system.base_url}/v1/admin/api-keys",
        json={"tenant": tenant},
        headers={"Authorization": f"Bearer {system.admin_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["key"])


@pytest.fixture
def tenant_key(system: System) -> str:
    """A fresh tenant's key, so the recent list holds only this test's conversions."""
    return key_of(system, f"web-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def paid_key(system: System) -> str:
    """A fresh tenant charged R$ 9,90 per conversion, once every process reads that price."""
    tenant = f"web-paid-{uuid.uuid4().hex[:8]}"
    url = f"{system.base_url}/v1/admin/tenants/{tenant}"
    with httpx.Client(headers={"Authorization": f"Bearer {system.admin_key}"}, timeout=30) as admin:
        changed = admin.patch(url, json={"price_cents": 990})
        assert changed.status_code == 200, changed.text
        deadline = time.monotonic() + WAIT_S
        while admin.get(url).json()["price_cents"] != 990:
            assert time.monotonic() < deadline, "the tenant's price never read back"
            time.sleep(0.2)
    time.sleep(TENANT_CACHE_S + 2.0)  # every process's tenant cache has re-read it by then
    return key_of(system, tenant)


def until(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S).until(condition, what)


def open_and_sign_in(driver: WebDriver, base_url: str, key: str, shots: Path) -> None:
    driver.get(f"{base_url}/")
    ready = (By.CSS_SELECTOR, "body[data-ready]")
    until(driver, ec.presence_of_element_located(ready), "the page ready")
    driver.save_screenshot(str(shots / "1-sign-in.png"))
    driver.find_element(By.ID, "api-key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()


def live_source_is(driver: WebDriver, source: str) -> None:
    live = (By.CSS_SELECTOR, f'#live[data-live="{source}"]')
    until(driver, ec.presence_of_element_located(live), f"the live source is {source}")


def upload_sample(driver: WebDriver, mpp_files: list[Path]) -> None:
    Select(driver.find_element(By.ID, "target")).select_by_value("mspdi")
    driver.find_element(By.ID, "file").send_keys(
        str(next(p for p in mpp_files if p.name == SAMPLE))
    )
    driver.find_element(By.ID, "convert").click()


def completed_job_id(driver: WebDriver) -> str:
    until(
        driver,
        ec.text_to_be_present_in_element_attribute((By.ID, "status"), "data-state", "completed"),
        "the status reached completed",
    )
    return driver.find_element(By.ID, "status").text.split()[1].rstrip(":")


def downloaded_result(
    driver: WebDriver, system: System, key: str, job_id: str, downloads: Path
) -> None:
    """The download button saves the very bytes the API's ``/result`` answers."""
    driver.find_element(By.ID, "download").click()
    until(driver, lambda _: list(downloads.glob("*.xml")), "download")
    expected = httpx.get(
        f"{system.base_url}/v1/conversions/{job_id}/result",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert expected.status_code == 200, expected.text
    until(
        driver,
        lambda _: next(downloads.glob("*.xml")).read_bytes() == expected.content,
        "the downloaded file holds the result's bytes",
    )


def test_a_person_converts_a_schedule_and_downloads_it(
    system: System,
    browser: WebDriver,
    tenant_key: str,
    mpp_files: list[Path],
    shots: Path,
    downloads: Path,
) -> None:
    sample = next(p for p in mpp_files if p.name == SAMPLE)
    open_and_sign_in(browser, system.base_url, tenant_key, shots)
    until(browser, ec.visibility_of_element_located((By.ID, "workspace")), "signed in")
    assert "API key" not in browser.current_url and tenant_key not in browser.current_url
    live_source_is(browser, "stream")
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
    job_id = completed_job_id(browser)
    browser.save_screenshot(str(shots / "3-completed.png"))
    assert not browser.find_element(By.ID, "payment").is_displayed()  # a free tenant pays nothing
    assert browser.find_element(By.ID, "download").is_enabled()
    downloaded_result(browser, system, tenant_key, job_id, downloads)

    row = (By.CSS_SELECTOR, f'#recent tr[data-id="{job_id}"]')
    until(browser, ec.text_to_be_present_in_element(row, "completed"), "in the recent list")
    assert sample.name in browser.find_element(*row).text
    browser.save_screenshot(str(shots / "4-downloaded.png"))

    browser.set_window_size(375, 800)
    browser.save_screenshot(str(shots / "5-phone.png"))
    browser.find_element(By.ID, "sign-out").click()
    until(browser, ec.visibility_of_element_located((By.ID, "sign-in")), "signed out")
    assert browser.execute_script("return sessionStorage.length") == 0


def test_without_the_event_stream_the_page_falls_back_to_polling(
    system: System,
    browser: WebDriver,
    tenant_key: str,
    mpp_files: list[Path],
    shots: Path,
    downloads: Path,
) -> None:
    # the browser refuses every request to the stream, as a CORS refusal or an outage would
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/v1/events/stream*"]})
    open_and_sign_in(browser, system.base_url, tenant_key, shots)
    live_source_is(browser, "polling")
    upload_sample(browser, mpp_files)
    job_id = completed_job_id(browser)
    browser.save_screenshot(str(shots / "2-completed-by-polling.png"))
    assert browser.find_element(By.ID, "live").get_attribute("data-live") == "polling"
    downloaded_result(browser, system, tenant_key, job_id, downloads)


def fill_payer(driver: WebDriver, document: str) -> None:
    fields = {
        "payer-document": document,
        "payer-name": "Maria Souza",
        "payer-address": "Avenida Paulista, 1000",
        "payer-city": "São Paulo",
        "payer-state": "SP",
        "payer-cep": "01310-100",
        "payer-email": "maria@example.com",
    }
    for field, value in fields.items():
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "payer-submit").click()


def payment_state_is(driver: WebDriver, state: str) -> None:
    payment = (By.CSS_SELECTOR, f'#payment[data-state="{state}"]')
    until(driver, ec.visibility_of_element_located(payment), f"the payment is {state}")


def test_a_paid_conversion_is_paid_on_the_page_and_then_downloads(
    system: System,
    browser: WebDriver,
    paid_key: str,
    mpp_files: list[Path],
    shots: Path,
    downloads: Path,
) -> None:
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    open_and_sign_in(browser, system.base_url, paid_key, shots)
    live_source_is(browser, "stream")
    upload_sample(browser, mpp_files)
    job_id = completed_job_id(browser)
    payment_state_is(browser, "payer_required")
    download = browser.find_element(By.ID, "download")
    assert download.is_displayed() and not download.is_enabled()
    assert "unlocks" in browser.find_element(By.ID, "download-lock").text
    assert "R$" in browser.find_element(By.ID, "payment-state").text
    browser.save_screenshot(str(shots / "2-payer-required.png"))

    fill_payer(browser, "111.111.111-11")  # not a CPF: its check digits are wrong
    until(
        browser,
        ec.text_to_be_present_in_element((By.ID, "payment-error"), "(invalid_payer)"),
        "the invalid payer's message",
    )
    browser.save_screenshot(str(shots / "3-invalid-payer.png"))
    cpf = new_cpf()
    fill_payer(browser, f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}")

    payment_state_is(browser, "pending")
    qr = browser.find_element(By.ID, "pix-qr")
    until(
        browser,
        lambda _: browser.execute_script("return arguments[0].naturalWidth", qr) > 0,
        "the Pix QR code drawn",
    )
    assert qr.get_attribute("src").startswith("blob:") and "R$" in qr.get_attribute("alt")
    assert browser.find_element(By.ID, "pix-code").get_attribute("value")
    until(browser, ec.visibility_of_element_located((By.ID, "boleto-link")), "the boleto's link")
    assert "9,90" in browser.find_element(By.ID, "charge-amount").text
    assert not browser.find_element(By.ID, "download").is_enabled()
    browser.save_screenshot(str(shots / "4-charge.png"))

    browser.find_element(By.ID, "copy-pix").click()
    until(browser, ec.text_to_be_present_in_element((By.ID, "copy-status"), "Copied"), "copied")
    browser.find_element(By.ID, "boleto-link").click()
    until(browser, lambda _: list(downloads.glob("*.pdf")), "the boleto saved")
    until(
        browser,
        lambda _: next(downloads.glob("*.pdf")).read_bytes().startswith(b"%PDF"),
        "the boleto is a PDF",
    )
    browser.set_window_size(375, 900)
    browser.save_screenshot(str(shots / "5-charge-phone.png"))
    browser.set_window_size(1280, 1000)

    browser.find_element(By.ID, "simulate").click()
    payment_state_is(browser, "paid")
    until(browser, ec.element_to_be_clickable((By.ID, "download")), "the download unlocked")
    assert not browser.find_element(By.ID, "download-lock").is_displayed()
    assert not browser.find_element(By.ID, "simulate").is_displayed()
    # the stream stayed the live source throughout: it never fell back to polling
    assert browser.find_element(By.ID, "live").get_attribute("data-live") == "stream"
    browser.save_screenshot(str(shots / "6-paid.png"))
    for pdf in downloads.glob("*.pdf"):
        pdf.unlink()
    downloaded_result(browser, system, paid_key, job_id, downloads)
    browser.save_screenshot(str(shots / "7-downloaded.png"))


def fill_upload_payer(driver: WebDriver, document: str) -> None:
    """The upload form's optional payer, unfolded and filled as a person would."""
    driver.find_element(By.CSS_SELECTOR, "#upload-payer summary").click()
    fields = {
        "upload-payer-document": document,
        "upload-payer-name": "Maria Souza",
        "upload-payer-address": "Avenida Paulista, 1000",
        "upload-payer-city": "São Paulo",
        "upload-payer-state": "sp",
        "upload-payer-cep": "01310-100",
    }
    for field, value in fields.items():
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)


def formatted(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def record_payment_states(driver: WebDriver) -> None:
    """Every state the payment section passes through, kept in ``window.paymentStates``."""
    driver.execute_script(
        """
        window.paymentStates = [];
        const payment = document.getElementById("payment");
        new MutationObserver(() => window.paymentStates.push(payment.dataset.state))
          .observe(payment, { attributes: true, attributeFilter: ["data-state"] });
        """
    )


def test_a_payer_given_with_the_upload_goes_straight_to_the_charge(
    system: System,
    browser: WebDriver,
    paid_key: str,
    mpp_files: list[Path],
    shots: Path,
    downloads: Path,
) -> None:
    open_and_sign_in(browser, system.base_url, paid_key, shots)
    live_source_is(browser, "stream")
    assert browser.find_element(By.ID, "upload-payer").get_attribute("open") is None
    assert not browser.find_element(By.ID, "upload-payer-document").is_displayed()
    record_payment_states(browser)
    cpf = new_cpf()
    fill_upload_payer(browser, formatted(cpf))
    browser.save_screenshot(str(shots / "2-payer-in-the-upload-form.png"))
    browser.set_window_size(375, 1400)
    browser.save_screenshot(str(shots / "3-payer-in-the-upload-form-phone.png"))
    browser.set_window_size(1280, 1000)
    upload_sample(browser, mpp_files)

    payment_state_is(browser, "pending")
    qr = browser.find_element(By.ID, "pix-qr")
    until(
        browser,
        lambda _: browser.execute_script("return arguments[0].naturalWidth", qr) > 0,
        "the Pix QR code drawn",
    )
    job_id = completed_job_id(browser)
    assert "payer_required" not in browser.execute_script("return window.paymentStates")
    assert not browser.find_element(By.ID, "payer-form").is_displayed()
    assert "9,90" in browser.find_element(By.ID, "charge-amount").text
    remembered = browser.execute_script("return JSON.parse(sessionStorage['conversions.payer'])")
    assert remembered["cpfCnpj"] == cpf and remembered["uf"] == "SP"
    assert remembered["cep"] == "01310100" and "email" not in remembered
    browser.save_screenshot(str(shots / "4-charge.png"))

    browser.find_element(By.ID, "simulate").click()
    payment_state_is(browser, "paid")
    until(browser, ec.element_to_be_clickable((By.ID, "download")), "the download unlocked")
    downloaded_result(browser, system, paid_key, job_id, downloads)
    browser.save_screenshot(str(shots / "5-downloaded.png"))
    browser.find_element(By.ID, "sign-out").click()
    until(browser, ec.visibility_of_element_located((By.ID, "sign-in")), "signed out")
    assert browser.execute_script("return sessionStorage.length") == 0


def test_an_invalid_payer_in_the_upload_form_is_refused_before_any_job(
    system: System, browser: WebDriver, paid_key: str, mpp_files: list[Path], shots: Path
) -> None:
    open_and_sign_in(browser, system.base_url, paid_key, shots)
    until(browser, ec.visibility_of_element_located((By.ID, "workspace")), "signed in")
    fill_upload_payer(browser, "111.111.111-11")  # not a CPF: its check digits are wrong
    upload_sample(browser, mpp_files)
    until(
        browser,
        ec.text_to_be_present_in_element((By.ID, "upload-payer-error"), "(invalid_payer)"),
        "the invalid payer's message beside the upload form",
    )
    document = browser.find_element(By.ID, "upload-payer-document")
    assert "cpfCnpj" in browser.find_element(By.ID, "upload-payer-error").text
    assert document.get_attribute("aria-invalid") == "true"
    assert document.get_attribute("aria-describedby") == "upload-payer-error"
    assert browser.switch_to.active_element == document
    assert browser.find_element(By.ID, "file").get_attribute("value").endswith(SAMPLE)
    assert not browser.find_element(By.ID, "status").text  # no conversion was started
    browser.save_screenshot(str(shots / "2-invalid-payer.png"))

    browser.find_element(By.ID, "refresh").click()
    time.sleep(1.0)  # the refresh's answer has arrived by then
    assert browser.find_elements(By.CSS_SELECTOR, "#recent tr") == []
    listed = httpx.get(
        f"{system.base_url}/v1/conversions",
        headers={"Authorization": f"Bearer {paid_key}"},
        timeout=30,
    )
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert browser.execute_script("return sessionStorage['conversions.payer']") is None

    # corrected, the same chosen file goes again, and the job exists
    document.clear()
    document.send_keys(formatted(new_cpf()))
    browser.find_element(By.ID, "convert").click()
    until(
        browser,
        ec.text_to_be_present_in_element((By.ID, "status"), "Conversion "),
        "the corrected upload taken",
    )
    assert not browser.find_element(By.ID, "upload-payer-error").text
    assert document.get_attribute("aria-invalid") is None
    browser.save_screenshot(str(shots / "3-corrected.png"))


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
    assert config["sandbox_payments"] is True  # the e2e system pays at the bank's simulator
    assert config["events_url"] == f"{system.notifier_url}/v1/events/stream"
    assert f"connect-src 'self' {system.notifier_url};" in policy
    assert "img-src 'self' data: blob:;" in policy
