"""Small fixed Chinese pages sent straight from ASGI middleware, before any route, template or session:
a refused upload (413) and a throttled sign-in (429) must cost next to nothing."""

from __future__ import annotations

from starlette.types import Send


def page(title: str, heading: str, message: str, back_href: str, back_label: str) -> bytes:
    return (
        f"<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>{title}</title>"
        f"<body><h1>{heading}</h1><p>{message}</p><p><a href='{back_href}'>{back_label}</a></p></body></html>"
    ).encode()


async def send_page(send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
