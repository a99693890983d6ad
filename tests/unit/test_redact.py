"""Credentials never appear in what a camera logs, stores or returns."""

import pytest

from pipeline.redact import is_secret_param, redact_text, redact_url, secrets_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
        ("rtsps://admin:hunter2@cam.local/s1", "rtsps://admin:***@cam.local/s1"),
        ("http://u:p@host/video.mjpg", "http://u:***@host/video.mjpg"),
        # a password containing '@' (unencoded) is masked up to the host
        ("rtsp://u:p@ss@host/x", "rtsp://u:***@host/x"),
        ("rtsp://u:p%40ss@host/x", "rtsp://u:***@host/x"),
        ("rtsp://:onlypass@host/x", "rtsp://:***@host/x"),
        # a user part without a password may be a token: masked whole
        ("rtsp://viewer@host/x", "rtsp://***@host/x"),
        ("rtsp://Zm9vYmFyYmF6@host/x", "rtsp://***@host/x"),
        ("rtsp://abc/def+ghi==@host/x", "rtsp://***@host/x"),
        # passwords holding quotes, slashes, colons
        ("rtsp://u:it's@host/x", "rtsp://u:***@host/x"),
        ("rtsp://u:a/b/c@host:554/x", "rtsp://u:***@host:554/x"),
        ("rtsp://u:a:b@host/x", "rtsp://u:***@host/x"),
        ("rtsp://u:pa?ss@host/x", "rtsp://u:***@host/x"),
        ("rtsp://u:pa#ss@host:554/x#f", "rtsp://u:***@host:554/x#***"),
        ("rtsp://u:pa ss@host/x", "rtsp://u:***@host/x"),
        # whatever the host after the @ is written in: another script, a stray space
        ("rtsp://bob:s3cretPW@ümlaut.invalid/x", "rtsp://bob:***@ümlaut.invalid/x"),
        ("rtsp://10.0.0.9:s3cretPW@10.0.0.1 /x", "rtsp://10.0.0.9:***@10.0.0.1 /x"),
        ("rtsp://bob:s3cretPW@host!name:554", "rtsp://bob:***@host!name:554"),
        # an @ in the query masks too much, never too little
        ("http://h/v?mail=a@b.c", "http://***@b.c"),
        # fragments are masked whole
        ("http://h/v.mjpg#s3cret", "http://h/v.mjpg#***"),
        ("http://u:p@h/v?token=t#frag", "http://u:***@h/v?token=***#***"),
        # no credentials: unchanged
        ("rtsp://host:554/x", "rtsp://host:554/x"),
        ("file:///data/a@b.mp4", "file:///data/a@b.mp4"),
        ("file://admin:hunter2@/data/a.mp4", "file://admin:***@/data/a.mp4"),
        ("file://admin:hunter2@/data/a@b.mp4", "file://admin:***@/data/a@b.mp4"),
        # secret query parameters, any case, other parameters kept
        ("http://h/v?password=a&fps=5", "http://h/v?password=***&fps=5"),
        ("http://h/v?user=bob&pass=a", "http://h/v?user=bob&pass=***"),
        ("http://h/v?PWD=a", "http://h/v?PWD=***"),
        ("http://h/v?token=abc&x=1", "http://h/v?token=***&x=1"),
        ("http://h/v?key=abc", "http://h/v?key=***"),
        ("http://h/v?auth=abc", "http://h/v?auth=***"),
        ("http://h/v?access_token=a&apiKey=b", "http://h/v?access_token=***&apiKey=***"),
        ("http://h/v?channel=1&subtype=0", "http://h/v?channel=1&subtype=0"),
        ("rtsp://a:b@h/v?token=t", "rtsp://a:***@h/v?token=***"),
        # paths, device indexes and malformed URLs: unchanged, never an exception
        ("/data/cams/door.mp4", "/data/cams/door.mp4"),
        ("/dev/video0", "/dev/video0"),
        (0, "0"),
        ("http://[::1", "http://[::1"),
        ("", ""),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        # OpenCV's open error echoes the URL
        (
            "OpenCV(5.0.0) cap.cpp:220: error: (-2:Unspecified error) could not open "
            "'rtsp://bob:s3cret@127.0.0.1:9/live?token=abcd' in function 'open'",
            "rtsp://bob:s3cret@127.0.0.1:9/live?token=abcd",
            "OpenCV(5.0.0) cap.cpp:220: error: (-2:Unspecified error) could not open "
            "'rtsp://bob:***@127.0.0.1:9/live?token=***' in function 'open'",
        ),
        # a literal echo of the password outside URL syntax
        ("auth failed for password s3cret", "rtsp://bob:s3cret@h/x",
         "auth failed for password ***"),
        # percent-decoded echo
        ("login p@ssw0rd rejected", "rtsp://bob:p%40ssw0rd@h/x", "login *** rejected"),
        # short secrets are masked in URL syntax only, not everywhere
        ("a camera at rtsp://u:a@h/x", "rtsp://u:a@h/x", "a camera at rtsp://u:***@h/x"),
        # text with no URL given: URL syntax is still masked
        ("see http://x:y@h/ and more", None, "see http://x:***@h/ and more"),
        ("nothing secret here", "rtsp://h/x", "nothing secret here"),
        # passwords with a quote or slash, and user-only tokens, inside text
        ("could not open 'rtsp://admin:it's/me@cam/live' in function", None,
         "could not open 'rtsp://admin:***@cam/live' in function"),
        ("opening rtsp://TOKENVALUE@cam/live failed", None, "opening rtsp://***@cam/live failed"),
        ("echo it's/me", "rtsp://admin:it's/me@cam/live", "echo ***"),
        ("echo TOKENVALUE", "rtsp://TOKENVALUE@cam/live", "echo ***"),
        ("echo fragsecret", "http://h/x#fragsecret", "echo ***"),
    ],
)
def test_redact_text(text, url, expected):
    assert redact_text(text, url) == expected


def test_secrets_of_lists_raw_and_decoded_values():
    assert secrets_of("rtsp://u:p%40ss@h/x?token=t%2B1") == ["p%40ss", "p@ss", "t%2B1", "t+1"]
    assert secrets_of("/plain/path.mp4") == []
    assert secrets_of("rtsp://TOK%2Fx@h/x#f") == ["TOK%2Fx", "TOK/x", "f"]


@pytest.mark.parametrize(
    ("name", "secret"),
    [("password", True), ("Passwd", True), ("x-amz-signature", True), ("auth_token", True),
     ("sig", True), ("fps", False), ("channel", False), ("user", False)],
)
def test_is_secret_param(name, secret):
    assert is_secret_param(name) is secret
