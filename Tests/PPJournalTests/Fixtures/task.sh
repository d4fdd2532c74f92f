case "$1" in
ok) echo ok ;;
esc) echo 'quote" back\ tab	end'; printf 'ctl\001\033[1m\177 \342\200\250 sep\n' >&2 ;;
uni) printf 'unicode é 😀 ∑\n' ;;
fail) echo failing; exit 3 ;;
slow) sleep 5 ;;
sig) kill -9 $$ ;;
flaky) if [ -e "$2" ]; then echo second; else touch "$2"; echo first >&2; exit 1; fi ;;
s3) sleep 3; echo slept ;;
*) echo "$1" ;;
esac
