//! Deterministic participant lists for benchmarks: realistic, varied rows (names, ISO and US
//! dates, formatted US phones, addresses), the same file for the same size every time.

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Margaret",
    "Dennis",
    "Shafi",
    "Ken",
    "Jean",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Hamilton",
    "Ritchie",
    "Goldwasser",
    "Thompson",
    "Sammet",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("San Francisco", "CA", "94103", "415"),
    ("New York", "NY", "10001", "212"),
    ("Boston", "Massachusetts", "02139", "617"),
    ("Chicago", "IL", "60601", "312"),
    ("Austin", "tx", "73301", "512"),
    ("Seattle", "WA", "98101-1234", "206"),
];

pub const HEADER: &str = "External ID,Name Prefix,First Name,Middle Name,Last Name,Date of Birth,Sex,Email,Mobile Phone,Home Phone,Office Phone,Address Line 1,Address Line 2,City,State,Zip,Country,Practitioner Email";

/// A small deterministic generator (64-bit LCG), so benchmarks need no extra crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }
}

pub fn participant_list(rows: usize) -> String {
    let mut rng = Lcg(42);
    let mut out = String::with_capacity(rows * 200);
    out.push_str(HEADER);
    out.push_str("\r\n");
    for i in 0..rows {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let (city, state, zip, area) = CITIES[rng.next(CITIES.len() as u64) as usize];
        let (year, month, day) = (1930 + rng.next(80), 1 + rng.next(12), 1 + rng.next(28));
        let dob = if i % 2 == 0 {
            format!("{year}-{month:02}-{day:02}")
        } else {
            format!("{month}/{day}/{year}")
        };
        let mobile = format!("({area}) {}-{:04}", 200 + rng.next(700), rng.next(10_000));
        let home = if i % 3 == 0 {
            format!("{area}.{}.{:04}", 200 + rng.next(700), rng.next(10_000))
        } else {
            String::new()
        };
        let sex = ["F", "M", "female", "male", ""][rng.next(5) as usize];
        out.push_str(&format!(
            "P-{i:06},,{first},,{last},{dob},{sex},{}.{}.{i}@Example.org,{mobile},{home},,\"{} Main St, Unit {}\",,{city},{state},{zip},US,\r\n",
            first.to_lowercase(),
            last.to_lowercase(),
            1 + rng.next(9000),
            1 + rng.next(40)
        ));
    }
    out
}
