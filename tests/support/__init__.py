"""Helpers the test suite shares: real lock repositories, real servers, real module runs."""
