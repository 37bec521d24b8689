# The part of google-re2's API healer uses; the package ships no type information.
# The names are the package's own.

class error(Exception): ...  # noqa: N801, N818

class Options:
    log_errors: bool
    never_capture: bool

class _Match: ...

class _Regexp:
    def search(self, text: bytes) -> _Match | None: ...

def compile(pattern: bytes, options: Options | None = ...) -> _Regexp: ...
