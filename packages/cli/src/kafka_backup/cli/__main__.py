from kafka_backup.cli.main import main

main()
