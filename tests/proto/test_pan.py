from hypothesis import given
from hypothesis import strategies as st

from proto.pan import luhn_check_digit, luhn_valid, mask_pan


class TestLuhn:
    def test_known_numbers(self):
        assert luhn_valid("4111111111111111")
        assert luhn_valid("79927398713")
        assert not luhn_valid("4111111111111112")
        assert not luhn_valid("41111111111111a1")

    @given(st.text(alphabet="0123456789", min_size=15, max_size=18))
    def test_check_digit_makes_valid(self, partial):
        pan = partial + luhn_check_digit(partial)
        assert luhn_valid(pan)
        wrong = str((int(pan[-1]) + 1) % 10)
        assert not luhn_valid(pan[:-1] + wrong)


class TestMask:
    def test_first_six_last_four(self):
        assert mask_pan("6221880000001234") == "622188******1234"
        assert mask_pan("6221880000000001234") == "622188*********1234"

    def test_short_is_masked_whole(self):
        assert mask_pan("1234") == "****"
        assert mask_pan(None) is None

    @given(st.text(alphabet="0123456789", min_size=16, max_size=19))
    def test_never_shows_middle(self, pan):
        masked = mask_pan(pan)
        assert len(masked) == len(pan)
        assert masked[6:-4] == "*" * (len(pan) - 10)
