"""What tests and benchmarks share: a live `streamlit run` and Chromium (`browser`), the in-page key-press
probe and percentiles (`probes`), many browser users of one app (`users`), the machine a figure was
measured on (`machine`), reading the app under AppTest (`apptest`), broken checkpoint folders
(`checkpoints`) and tiny real training runs (`runs`). Neither tests nor benchmarks import each other."""
