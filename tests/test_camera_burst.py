"""The burst camera's pictures, as the server receives them: data URLs decoded, bad ones dropped, and a
picture already taken (for this class or another) left out."""
import base64
import io

from PIL import Image

from ui.camera_burst import decode_data_url
from ui.camera_dataset import add_burst


def jpeg(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def test_a_data_url_is_decoded_and_anything_else_is_dropped():
    picture = jpeg("red")
    assert decode_data_url(data_url(picture)) == picture
    for bad in (None, 3, "", "hello", "data:text/plain;base64,aGk=", "data:image/jpeg;base64,@@@"):
        assert decode_data_url(bad) == b""


def test_a_burst_keeps_new_readable_pictures_only():
    red, green, blue = jpeg("red"), jpeg("green"), jpeg("blue")
    taken = {"cat": [red]}
    add_burst(taken, "dog", [green, red, b"not a picture", green, blue])
    assert taken == {"cat": [red], "dog": [green, blue]}  # red is the cat's; green once; the junk dropped
    add_burst(taken, "bird", [red, b"junk"])
    assert "bird" not in taken  # nothing new: no empty class left behind
