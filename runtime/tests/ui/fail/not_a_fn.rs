#[runtime::main]
struct Server;

#[runtime::test]
mod tests {}

fn main() {
    let _ = Server;
}
