from kafka_backup.cli.entry import main

main()
