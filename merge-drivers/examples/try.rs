fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let kind = a[0].parse().unwrap();
    let r = |p: &str| std::fs::read(p).unwrap();
    let m = merge_drivers::merge(kind, &r(&a[1]), &r(&a[2]), &r(&a[3]), &Default::default());
    print!("{}", String::from_utf8_lossy(&m.output));
    eprintln!(
        "-- conflicted={} method={:?} records={:?}",
        m.conflicted,
        m.method,
        m.records.iter().map(|r| r.to_json()).collect::<Vec<_>>()
    );
}
