# snap-password.awk: the one reader of Snap's REST API password, for the entrypoint and the
# healthcheck. It reads the file ENVIRON["PASSWORD_FILE"] (one line of text; one trailing newline
# allowed) and escapes it for a double-quoted string (backslash and double quote), then either
#   - with ENVIRON["CURL_USER"] set: prints a curl config line `user = "<user>:<password>"`, or
#   - copies its input with every ENVIRON["PLACEHOLDER"] replaced by the escaped password (a
#     double-quoted YAML scalar of snapd's config).
# The value stays inside awk: in no shell variable, command line or message. Exit status: 3 the
# file cannot be read, 4 it is empty, 5 it holds a line break or a control character (C0, DEL,
# C1 with NEL, U+2028, U+2029), which a double-quoted scalar would fold or refuse.
# Run with LC_ALL=C (bytes, not characters). A NUL byte is the callers' to refuse: awk cannot
# see one portably.

function escaped(value,    out, i, c) {
  out = ""
  for (i = 1; i <= length(value); i++) {
    c = substr(value, i, 1)
    if (c == "\\" || c == "\"") out = out "\\"
    out = out c
  }
  return out
}

BEGIN {
  file = ENVIRON["PASSWORD_FILE"]
  lines = 0
  while ((status = (getline line < file)) > 0) {
    lines++
    if (lines == 1) password = line
  }
  if (status < 0) exit 3
  close(file)
  if (lines > 1) exit 5
  if (password == "") exit 4
  if (password ~ /[\001-\037\177]/ || password ~ /\302[\200-\237]/ || index(password, "\342\200\250") || index(password, "\342\200\251")) exit 5
  if (ENVIRON["CURL_USER"] != "") {
    printf "user = \"%s:%s\"\n", escaped(ENVIRON["CURL_USER"]), escaped(password)
    exit 0
  }
  replacement = escaped(password)
  placeholder = ENVIRON["PLACEHOLDER"]
}

{
  rest = $0; out = ""
  while ((i = index(rest, placeholder)) > 0) {
    out = out substr(rest, 1, i - 1) replacement
    rest = substr(rest, i + length(placeholder))
  }
  print out rest
}
